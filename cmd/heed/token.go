package main

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/heed-dev/heed/approvals"
)

func tokenCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Make, list and revoke the HTTP API's bearer tokens"}
	cmd.AddCommand(tokenCreateCmd(a), tokenListCmd(a), tokenRevokeCmd(a))
	return cmd
}

func tokenCreateCmd(a *app) *cobra.Command {
	var person string
	cmd := &cobra.Command{
		Use:   "create --person NAME",
		Short: "Make a token for one of the people; prints its secret, once",
		Long: "Make a bearer token for the HTTP API (/api/v1) acting as one of the configured people.\n" +
			"The secret is printed once and never again: heed keeps only its SHA-256. Posts made\n" +
			"with it are that person's, so their own reactions never approve them.",
		Example: `  heed token create --person alice`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := a.config()
			if err != nil {
				return err
			}
			names := make([]string, 0, len(c.People))
			for name := range c.People {
				names = append(names, name)
			}
			slices.Sort(names)
			switch {
			case person == "":
				return approvals.Errorf(approvals.EINVALID, "--person: name whom the token acts for: one of the people in the configuration (%s)", strings.Join(names, ", "))
			case len(names) == 0:
				return approvals.Errorf(approvals.EINVALID, "the configuration names no people: add %s under people: (%s: [<their Slack or Matrix user id>]), so that heed knows them in chat too", person, person)
			case !slices.Contains(names, person):
				return approvals.Errorf(approvals.EINVALID, "--person %q is none of the people in the configuration: give one of %s", person, strings.Join(names, ", "))
			}
			svc, _, err := a.service(ctx)
			if err != nil {
				return err
			}
			t, secret, err := svc.Tokens.CreateToken(ctx, person, a.who(), "cli")
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), secret)
			fmt.Fprintf(cmd.ErrOrStderr(), "token %d for %s: the line above is its secret, shown this once; heed keeps only its hash (revoke with heed token revoke %d)\n", t.ID, person, t.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&person, "person", "", "whom the token acts for: one of the configuration's people")
	return cmd
}

func tokenListCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			svc, _, err := a.service(ctx)
			if err != nil {
				return err
			}
			tokens, err := svc.Tokens.Tokens(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				if tokens == nil {
					tokens = []approvals.APIToken{}
				}
				return writeJSON(cmd.OutOrStdout(), tokens)
			}
			loc, _ := approvals.LoadZone(a.cfg.Zone)
			stamp := func(t time.Time) string {
				if t.IsZero() {
					return "-"
				}
				return t.In(loc).Format("2006-01-02 15:04 MST")
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPERSON\tCREATED\tLAST USED\tREVOKED")
			for _, t := range tokens {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", t.ID, t.Person, stamp(t.Created), stamp(t.LastUsed), stamp(t.Revoked))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func tokenRevokeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Refuse a token from now on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id, err := parseID(args[0])
			if err != nil {
				return approvals.Errorf(approvals.EINVALID, "%q is not a token id (heed token list shows them)", args[0])
			}
			svc, _, err := a.service(ctx)
			if err != nil {
				return err
			}
			if err := svc.Tokens.RevokeToken(ctx, id, a.who(), "cli"); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %d revoked\n", id)
			return nil
		},
	}
}
