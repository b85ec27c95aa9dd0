package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func importCmd(a *app) *cobra.Command {
	var dry, allowFrequent bool
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import a YAML calendar of posts (upserts by key; safe to run twice)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			src, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			svc, _, err := a.service(ctx)
			if err != nil {
				return err
			}
			entries, warnings, err := ParseCalendar(args[0], src, a.cfg.Zone, a.who(), svc.Now(), allowFrequent, svc.SeriesCards)
			if err != nil {
				return err
			}
			for _, e := range entries {
				if err := a.cfg.PersonOf(e.Post.Author); err != nil {
					return fmt.Errorf("%s: author: %w; nothing was stored", e.Where, err)
				}
			}
			if err := attachCalendarMedia(svc.Store.Media(), args[0], entries, dry); err != nil {
				return err
			}
			for _, w := range warnings {
				fmt.Fprintf(cmd.ErrOrStderr(), "⚠ %s\n", w)
			}
			res, err := svc.Posts.Import(ctx, entries, a.who(), "import:"+args[0], dry)
			if err != nil {
				return fmt.Errorf("%s: %w; nothing was stored", args[0], err)
			}
			verb := "imported"
			if dry {
				verb = "would import (dry run)"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %d added, %d updated, %d unchanged\n", args[0], verb, res.Added, res.Updated, res.Unchanged)
			return nil
		},
	}
	cmd.Flags().BoolVar(&dry, "dry-run", false, "check and report, store nothing")
	cmd.Flags().BoolVar(&allowFrequent, "allow-frequent", false, "accept every cron that fires more than 1440 times a day (one entry: allow_frequent: true)")
	return cmd
}
