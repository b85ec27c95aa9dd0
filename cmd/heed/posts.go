package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/heed-dev/heed/approvals"
)

// postFlags are the flags shared by post add and post edit.
type postFlags struct {
	at, tz, cron, until, text, link, room, key string
	to, variants, media                        []string
	alt                                        []string
	allowFrequent                              bool
}

func (f *postFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.at, "at", "", `one time: RFC 3339, "2026-12-01 09:00" (read in --tz), or relative: +5m, "in 2h"`)
	fl.StringVar(&f.tz, "tz", "", "IANA time zone for --at and --cron (default: the config's zone)")
	fl.StringVar(&f.cron, "cron", "", `recurring: a cron spec such as "0 9 * * MON", read in --tz`)
	fl.StringVar(&f.until, "until", "", "recurring: no occurrence after this time")
	fl.StringSliceVar(&f.to, "to", nil, "target name (repeat or separate with commas)")
	fl.StringVar(&f.text, "text", "", "the post's text (- reads it from standard input)")
	fl.StringArrayVar(&f.variants, "variant", nil, "a text for one target: TARGET=TEXT (repeatable)")
	fl.StringVar(&f.link, "link", "", "a link to attach")
	fl.StringArrayVar(&f.media, "media", nil, "an image to attach (repeatable; give --alt for each)")
	fl.StringArrayVar(&f.alt, "alt", nil, "alt text for the --media at the same position")
	fl.StringVar(&f.room, "room", "", "the review room (default: the first configured)")
	fl.BoolVar(&f.allowFrequent, "allow-frequent", false, fmt.Sprintf("accept a --cron that fires more than %d times a day", approvals.MaxPerDay))
}

// frequency says how often a recurring schedule fires, in a sample day of
// its zone: a warning above approvals.FrequentPerDay times a day, and an
// error above approvals.MaxPerDay unless allowed (allow names how to).
// cards is how many upcoming times of a series have a card.
func frequency(s approvals.Schedule, now time.Time, cards int, allowed bool, allow string) (string, error) {
	if !s.Recurring() {
		return "", nil
	}
	n := s.FiringsPerDay(now, approvals.MaxPerDay)
	switch {
	case n > approvals.MaxPerDay && !allowed:
		return "", approvals.Errorf(approvals.EINVALID, "cron spec %q fires more than %d times a day: so frequent a series is refused unless %s", s.Cron, approvals.MaxPerDay, allow)
	case n > approvals.MaxPerDay:
		return fmt.Sprintf("cron spec %q fires more than %d times a day (in %s); each time needs its own approval, and only the next %d have a card at once", s.Cron, approvals.MaxPerDay, s.TZ, cards), nil
	case n > approvals.FrequentPerDay:
		return fmt.Sprintf("cron spec %q fires %d times a day (in %s); each time needs its own approval, and only the next %d have a card at once", s.Cron, n, s.TZ, cards), nil
	}
	return "", nil
}

func (f *postFlags) schedule(cmd *cobra.Command, zone string, now time.Time) (*approvals.Schedule, error) {
	fl := cmd.Flags()
	if !fl.Changed("at") && !fl.Changed("cron") && !fl.Changed("tz") && !fl.Changed("until") {
		return nil, nil
	}
	tz := f.tz
	if tz == "" {
		tz = zone
	}
	s := approvals.Schedule{TZ: tz, Cron: f.cron}
	if f.at != "" && f.cron != "" {
		return nil, approvals.Errorf(approvals.EINVALID, "give either --at or --cron, not both")
	}
	if f.at != "" {
		t, err := approvals.ParseTime(f.at, tz, now)
		if err != nil {
			return nil, err
		}
		s.At = t
	}
	if f.until != "" {
		t, err := approvals.ParseTime(f.until, tz, now)
		if err != nil {
			return nil, err
		}
		s.Until = t
	}
	return &s, nil
}

func (f *postFlags) textValue(in io.Reader) (string, error) {
	if f.text != "-" {
		return f.text, nil
	}
	b, err := io.ReadAll(io.LimitReader(in, 1<<20))
	return string(b), err
}

func (f *postFlags) variantMap() (map[string]string, error) {
	if len(f.variants) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, v := range f.variants {
		t, text, ok := strings.Cut(v, "=")
		if !ok || t == "" {
			return nil, approvals.Errorf(approvals.EINVALID, "--variant %q: use TARGET=TEXT", v)
		}
		m[t] = text
	}
	return m, nil
}

func (f *postFlags) mediaList() ([]approvals.Media, error) {
	if len(f.alt) > len(f.media) {
		return nil, approvals.Errorf(approvals.EINVALID, "%d --alt but only %d --media", len(f.alt), len(f.media))
	}
	var out []approvals.Media
	for i, m := range f.media {
		if m == "" {
			continue
		}
		md := approvals.Media{Path: m}
		if i < len(f.alt) {
			md.Alt = f.alt[i]
		}
		out = append(out, md)
	}
	return out, nil
}

func postCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "post", Short: "Add, list, show, edit and cancel posts"}
	cmd.AddCommand(postAddCmd(a), postListCmd(a), postShowCmd(a), postEditCmd(a), postCancelCmd(a))
	return cmd
}

func postAddCmd(a *app) *cobra.Command {
	var f postFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "add --at TIME | --cron SPEC --to TARGET --text TEXT",
		Short: "Schedule a post; prints its id (the card number people type)",
		Args:  cobra.NoArgs,
		Example: `  heed post add --at +5m --to log --text "Hello from heed"
  heed post add --at "2026-12-01 09:00" --tz Europe/Berlin --to mastodon --text "Release day"
  heed post add --cron "0 9 * * MON" --tz Europe/Berlin --to mastodon,bluesky --text "Weekly digest"`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			svc, _, err := a.service(ctx)
			if err != nil {
				return err
			}
			s, err := f.schedule(cmd, a.cfg.Zone, svc.Now())
			if err != nil {
				return err
			}
			if s == nil {
				return approvals.Errorf(approvals.EINVALID, "no time given: use --at TIME or --cron SPEC")
			}
			text, err := f.textValue(cmd.InOrStdin())
			if err != nil {
				return err
			}
			variants, err := f.variantMap()
			if err != nil {
				return err
			}
			media, err := f.mediaList()
			if err != nil {
				return err
			}
			if err := a.cfg.PersonOf(a.who()); err != nil {
				return err
			}
			warning, err := frequency(*s, svc.Now(), svc.SeriesCards, f.allowFrequent, "you give --allow-frequent")
			if err != nil {
				return err
			}
			// Each image is copied into the media store now: the post,
			// its approval and what goes out are that copy.
			if media, err = svc.Store.Media().Attach(media, "", false); err != nil {
				return err
			}
			p, err := svc.Posts.AddPost(ctx, approvals.NewPost{Key: f.key, Text: text, Variants: variants, Link: f.link, Media: media,
				Targets: f.to, Author: a.who(), Room: f.room, Schedule: *s}, a.who(), "cli")
			if err != nil {
				return err
			}
			if warning != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "⚠ post %d: %s\n", p.ID, warning)
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), p)
			}
			fmt.Fprintln(cmd.OutOrStdout(), p.ID)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&f.key, "key", "", "a stable key (as calendar imports use)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the post as JSON")
	return cmd
}

func postListCmd(a *app) *cobra.Command {
	var asJSON, all bool
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List posts, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			svc, _, err := a.service(ctx)
			if err != nil {
				return err
			}
			posts, err := svc.Posts.ListPosts(ctx, all, limit)
			if err != nil {
				return err
			}
			if asJSON {
				if posts == nil {
					posts = []approvals.Post{}
				}
				return writeJSON(cmd.OutOrStdout(), posts)
			}
			loc, _ := approvals.LoadZone(a.cfg.Zone)
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tWHEN\tTARGETS\tAUTHOR\tTEXT")
			for _, p := range posts {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", p.ID, when(p, loc), strings.Join(p.Targets, ","), p.Author, clipLine(p.Text, 50))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&all, "all", false, "include canceled posts")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many")
	return cmd
}

func when(p approvals.Post, loc *time.Location) string {
	s := p.Schedule.At.In(loc).Format("2006-01-02 15:04 MST")
	if p.Schedule.Recurring() {
		s = "cron " + p.Schedule.Cron + " (" + p.Schedule.TZ + ")"
	}
	if p.Canceled {
		s += " [canceled]"
	}
	return s
}

func clipLine(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ⏎ ")
	r := []rune(s)
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func postShowCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a post, its occurrences and any warnings",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			svc, cat, err := a.service(ctx)
			if err != nil {
				return err
			}
			p, err := svc.Posts.GetPost(ctx, id)
			if err != nil {
				return err
			}
			occs, err := svc.Reviews.Occurrences(ctx, id, 20)
			if err != nil {
				return err
			}
			loc, _ := approvals.LoadZone(a.cfg.Zone)
			first, hasNext := p.Schedule.At, !p.Schedule.Recurring()
			if p.Schedule.Recurring() {
				first, hasNext = p.Schedule.Next(svc.Now())
			}
			var warnings []string
			if hasNext {
				for _, pl := range approvals.Payloads(&p, first) {
					for _, pr := range cat.Problems(pl) {
						warnings = append(warnings, pl.Target+": "+pr)
					}
				}
				// What the timing safeguards say about its (next) time.
				tc := svc.Reviews.TimingFor(p, first)
				warnings = append(warnings, tc.Warnings...)
				if tc.OffHours != "" {
					warnings = append(warnings, tc.OffHours+": heed holds it unless an approver allows it (`allow N off-hours`)")
				}
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"post": p, "occurrences": orEmptyOccs(occs), "warnings": orEmptyStrings(warnings)})
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "post %d by %s\nwhen:    %s\ntargets: %s\n", p.ID, p.Author, when(p, loc), strings.Join(p.Targets, ", "))
			if p.Key != "" {
				fmt.Fprintf(w, "key:     %s\n", p.Key)
			}
			if p.Link != "" {
				fmt.Fprintf(w, "link:    %s\n", p.Link)
			}
			for _, m := range p.Media {
				fmt.Fprintf(w, "image:   %s\n", mediaLine(m))
			}
			fmt.Fprintf(w, "text:\n")
			for _, line := range strings.Split(p.Text, "\n") {
				fmt.Fprintf(w, "  > %s\n", line)
			}
			for t, v := range p.Variants {
				fmt.Fprintf(w, "text for %s:\n  > %s\n", t, strings.ReplaceAll(v, "\n", "\n  > "))
			}
			for _, wn := range warnings {
				fmt.Fprintf(w, "⚠ %s\n", wn)
			}
			if len(occs) > 0 {
				fmt.Fprintln(w, "occurrences:")
				for _, o := range occs {
					fmt.Fprintf(w, "  #%d %s %s", o.ID, o.At.In(loc).Format("2006-01-02 15:04 MST"), o.State)
					if o.Note != "" {
						fmt.Fprintf(w, " · %s", clipLine(o.Note, 100))
					}
					fmt.Fprintln(w)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func orEmptyOccs(o []approvals.Occurrence) []approvals.Occurrence {
	if o == nil {
		return []approvals.Occurrence{}
	}
	return o
}

func orEmptyStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func postEditCmd(a *app) *cobra.Command {
	var f postFlags
	cmd := &cobra.Command{
		Use:   "edit ID [flags]",
		Short: "Change a post; approvals of changed occurrences are void",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			svc, _, err := a.service(ctx)
			if err != nil {
				return err
			}
			cur, err := svc.Posts.GetPost(ctx, id)
			if err != nil {
				return err
			}
			var e approvals.PostEdit
			fl := cmd.Flags()
			if fl.Changed("text") {
				t, err := f.textValue(cmd.InOrStdin())
				if err != nil {
					return err
				}
				e.Text = &t
			}
			if fl.Changed("link") {
				e.Link = &f.link
			}
			if fl.Changed("to") {
				e.Targets = f.to
			}
			if fl.Changed("room") {
				e.Room = &f.room
			}
			if fl.Changed("variant") {
				if e.Variants, err = f.variantMap(); err != nil {
					return err
				}
			}
			if fl.Changed("media") {
				if e.Media, err = f.mediaList(); err != nil {
					return err
				}
				if e.Media == nil {
					e.Media = []approvals.Media{} // --media "" drops the images
				}
			}
			zone := cur.Schedule.TZ
			if s, err := f.schedule(cmd, zone, svc.Now()); err != nil {
				return err
			} else if s != nil {
				if !fl.Changed("at") && !fl.Changed("cron") {
					s.At, s.Cron = cur.Schedule.At, cur.Schedule.Cron
				}
				e.Schedule = s
			}
			var warning string
			if e.Schedule != nil {
				if warning, err = frequency(*e.Schedule, svc.Now(), svc.SeriesCards, f.allowFrequent, "you give --allow-frequent"); err != nil {
					return err
				}
			}
			if e.Media, err = svc.Store.Media().Attach(e.Media, "", false); err != nil {
				return err
			}
			p, err := svc.Posts.EditPost(ctx, id, e, a.who(), "cli")
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "post %d updated; occurrences whose content or time changed need a fresh approval\n", p.ID)
			if warning != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "⚠ post %d: %s\n", p.ID, warning)
			}
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func postCancelCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a post and all its open occurrences",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			svc, _, err := a.service(ctx)
			if err != nil {
				return err
			}
			if err := svc.Posts.CancelPost(ctx, id, a.who(), "cli"); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "post %d canceled\n", id)
			return nil
		},
	}
}

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || id <= 0 {
		return 0, approvals.Errorf(approvals.EINVALID, "%q is not a post id (heed post list shows them)", s)
	}
	return id, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
