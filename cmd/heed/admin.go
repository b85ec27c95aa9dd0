package main

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	heedapp "github.com/heed-dev/heed/app"
	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/approvals/timing"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/feeds"
	"github.com/heed-dev/heed/httpd"
	"github.com/heed-dev/heed/media"
	"github.com/heed-dev/heed/sqlite"
)

func pauseCmd(a *app) *cobra.Command {
	var target, reason string
	var offline bool
	var retract time.Duration
	cmd := &cobra.Command{
		Use:   "pause [--target T] [--reason R] [--retract 2h]",
		Short: "Stop all publishing at once (a running heed stops within a second)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if cmd.Flags().Changed("retract") && retract <= 0 {
				return approvals.Errorf(approvals.EINVALID, "--retract: give how far back to look, such as 2h")
			}
			svc, _, err := a.service(ctx)
			if err != nil {
				return err
			}
			rc, err := svc.Pauses.PauseAll(ctx, a.who(), target, reason, "cli")
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), bot.PauseReceipt(rc))
			held := a.daemonHolds(ctx, cmd, svc, offline, "The pause is recorded")
			if retract == 0 || held != nil {
				return held
			}
			// The offer goes to the review rooms through the running heed;
			// an approver confirms it there.
			o, err := svc.Pauses.OfferRetract(ctx, retract, a.who(), reason, "cli")
			if err != nil {
				return err
			}
			loc, _ := approvals.LoadZone(a.cfg.Zone)
			fmt.Fprintln(cmd.OutOrStdout(), bot.RetractOfferText(ctx, svc.Reviews, loc, o))
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "target", "", "pause only this target")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the team and the audit log")
	cmd.Flags().BoolVar(&offline, "offline", false, "record the pause even though no running heed holds the database, and exit 0")
	cmd.Flags().DurationVar(&retract, "retract", 0, "also offer to retract what was published this far back (e.g. 2h); an approver confirms in chat")
	return cmd
}

func resumeCmd(a *app) *cobra.Command {
	var target string
	var offline bool
	cmd := &cobra.Command{
		Use:   "resume [--target T]",
		Short: "Lift the pause; held occurrences still need a fresh decision",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			svc, _, err := a.service(ctx)
			if err != nil {
				return err
			}
			rc, err := svc.Pauses.Resume(ctx, a.who(), target, "cli")
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), bot.ResumeReceipt(a.who(), rc))
			return a.daemonHolds(ctx, cmd, svc, offline, "The resume is recorded")
		},
	}
	cmd.Flags().StringVar(&target, "target", "", "resume only this target")
	cmd.Flags().BoolVar(&offline, "offline", false, "record the resume even though no running heed holds the database, and exit 0")
	return cmd
}

func statusCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show pauses, counts per state and the next occurrences",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			svc, _, err := a.service(ctx)
			if err != nil {
				return err
			}
			pauses, err := svc.Pauses.ActivePauses(ctx)
			if err != nil {
				return err
			}
			counts, err := svc.Reviews.Counts(ctx)
			if err != nil {
				return err
			}
			queue, err := svc.Reviews.Queue(ctx, 10)
			if err != nil {
				return err
			}
			tw, hasTripwire, err := bot.ReadTripwireStatus(ctx, svc.Store)
			if err != nil {
				return err
			}
			fh, hasFeeds, err := feeds.ReadStatus(ctx, svc.Store)
			if err != nil {
				return err
			}
			replicas, chats, err := replicaStatus(ctx, svc.Store, a.cfg, time.Now())
			if err != nil {
				return err
			}
			if asJSON {
				if pauses == nil {
					pauses = []approvals.Pause{}
				}
				if queue == nil {
					queue = []approvals.Summary{}
				}
				out := map[string]any{"paused": len(pauses) > 0, "pauses": pauses, "counts": counts, "next": queue}
				if hasTripwire {
					out["tripwire"] = tw
				}
				if hasFeeds {
					out["feeds"] = fh
				}
				if replicas != nil {
					out["replicas"], out["chats"] = replicas, chats
				}
				return writeJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			loc, _ := approvals.LoadZone(a.cfg.Zone)
			printReplicas(w, replicas, chats, time.Now(), loc)
			if hasTripwire {
				for _, line := range tw.Lines(loc) {
					fmt.Fprintln(w, line)
				}
			}
			if hasFeeds {
				for _, line := range fh.Lines(loc) {
					fmt.Fprintln(w, line)
				}
			}
			if len(pauses) == 0 {
				fmt.Fprintln(w, "▶ not paused")
			}
			for _, p := range pauses {
				scope := "everything"
				if p.Target != "" {
					scope = p.Target
				}
				fmt.Fprintf(w, "⏸ %s paused by %s at %s: %s\n", scope, p.By, p.At.In(loc).Format("2006-01-02 15:04 MST"), p.Reason)
			}
			var parts []string
			for _, st := range approvals.States {
				if counts[st] > 0 {
					parts = append(parts, fmt.Sprintf("%s %d", st, counts[st]))
				}
			}
			if len(parts) > 0 {
				fmt.Fprintln(w, strings.Join(parts, " · "))
			}
			now := svc.Now()
			for _, s := range queue {
				fmt.Fprintf(w, "#%d %-10s %s (%s) → %s: %s\n", s.ID, s.State, s.At.In(loc).Format("2006-01-02 15:04 MST"),
					bot.Relative(s.At, now), strings.Join(s.Targets, ","), clipLine(s.Text, 50))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func resolveCmd(a *app) *cobra.Command {
	var target, url, before string
	var all bool
	cmd := &cobra.Command{
		Use:   "resolve N [N...] | all | --all [--before TIME]  published|failed",
		Short: "Settle occurrences whose publish outcome is unknown, after checking the account",
		Long: "Settle occurrences whose publish outcome is unknown, after checking the account.\n" +
			"Several numbers, or `all` (--all) for every unknown one, settle many at once (after a crash\n" +
			"left several unknown): each is listed as it is resolved, and audited. With --before TIME,\n" +
			"`all` settles only the occurrences due before TIME (a date alone is the start of that day,\n" +
			"in the config's zone; other forms as for post add --at).",
		Example: `  heed resolve 12 published --url https://mastodon.example/@team/1
  heed resolve all failed
  heed resolve --all --before 2026-12-01 published`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			verdict := args[len(args)-1]
			if verdict != "published" && verdict != "failed" {
				return approvals.Errorf(approvals.EINVALID, "%q: end with published or failed", verdict)
			}
			nums := args[:len(args)-1]
			if len(nums) == 1 && nums[0] == "all" {
				all, nums = true, nil
			}
			switch {
			case all && len(nums) > 0:
				return approvals.Errorf(approvals.EINVALID, "give occurrence numbers or --all, not both")
			case !all && len(nums) == 0:
				return approvals.Errorf(approvals.EINVALID, "which occurrences? give their numbers, or all (--all) for every unknown one, then published or failed")
			case !all && cmd.Flags().Changed("before"):
				return approvals.Errorf(approvals.EINVALID, "--before goes with all (--all): it picks which unknown outcomes to settle; numbers name them already")
			}
			var ids []int64
			for _, a := range nums {
				id, err := parseID(a)
				if err != nil {
					return err
				}
				ids = append(ids, id)
			}
			svc, _, err := a.service(ctx)
			if err != nil {
				return err
			}
			if all {
				var cutoff time.Time
				if cmd.Flags().Changed("before") {
					if cutoff, err = approvals.ParseBefore(before, a.cfg.Zone, svc.Now()); err != nil {
						return approvals.Errorf(approvals.EINVALID, "--before: %s", approvals.ErrorMessage(err))
					}
				}
				queue, err := svc.Reviews.Queue(ctx, 1_000_000)
				if err != nil {
					return err
				}
				if ids = approvals.Unresolved(queue, cutoff); len(ids) == 0 {
					if !cutoff.IsZero() {
						loc, err := approvals.LoadZone(a.cfg.Zone)
						if err != nil {
							loc = time.UTC
						}
						return approvals.Errorf(approvals.ENOTFOUND, "no occurrence due before %s has an unknown outcome", cutoff.In(loc).Format("2006-01-02 15:04 MST"))
					}
					return approvals.Errorf(approvals.ENOTFOUND, "no occurrence has an unknown outcome")
				}
			}
			if url != "" && len(ids) > 1 {
				return approvals.Errorf(approvals.EINVALID, "--url names one post's URL: resolve one occurrence with it")
			}
			for _, id := range ids {
				if err := svc.Deliveries.Resolve(ctx, id, target, verdict == "published", url, a.who(), "cli"); err != nil {
					return fmt.Errorf("#%d: %w (the ones before it are resolved)", id, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "#%d resolved as %s\n", id, verdict)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every occurrence whose outcome is unknown (or write all)")
	cmd.Flags().StringVar(&before, "before", "", "with all: only occurrences due before this time (2026-12-01 is the start of that day)")
	cmd.Flags().StringVar(&target, "target", "", "only this target (default: every unknown one)")
	cmd.Flags().StringVar(&url, "url", "", "the post's URL, if it went out (one occurrence only)")
	return cmd
}

func auditCmd(a *app) *cobra.Command {
	var asJSON, asCSV bool
	var occ int64
	cmd := &cobra.Command{
		Use:   "audit [--json|--csv]",
		Short: "Export the append-only audit log: who did what, when and where",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if asJSON && asCSV {
				return approvals.Errorf(approvals.EINVALID, "choose --json or --csv, not both")
			}
			svc, _, err := a.service(ctx)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			var cw *csv.Writer
			if asCSV {
				cw = csv.NewWriter(w)
				_ = cw.Write([]string{"id", "at", "actor", "identity", "person", "action", "post_id", "occurrence", "target", "place", "detail"})
			}
			var all []approvals.AuditEntry
			for after := int64(0); ; {
				page, err := svc.Audit.Audit(ctx, after, occ, 5000)
				if err != nil {
					return err
				}
				if len(page) == 0 {
					break
				}
				after = page[len(page)-1].ID
				for _, e := range page {
					switch {
					case asJSON:
						all = append(all, e)
					case asCSV:
						_ = cw.Write([]string{strconv.FormatInt(e.ID, 10), e.At.Format(time.RFC3339Nano), e.Actor, e.Identity, e.Person, e.Action,
							strconv.FormatInt(e.PostID, 10), strconv.FormatInt(e.Occurrence, 10), e.Target, e.Place, e.Detail})
					default:
						fmt.Fprintf(w, "%s  %-18s %-12s", e.At.Format(time.RFC3339), e.Action, auditWho(e))
						if e.Occurrence != 0 {
							fmt.Fprintf(w, " #%d", e.Occurrence)
						} else if e.PostID != 0 {
							fmt.Fprintf(w, " post %d", e.PostID)
						}
						if e.Target != "" {
							fmt.Fprintf(w, " → %s", e.Target)
						}
						if e.Place != "" {
							fmt.Fprintf(w, " [%s]", e.Place)
						}
						if e.Detail != "" {
							fmt.Fprintf(w, " %s", e.Detail)
						}
						fmt.Fprintln(w)
					}
				}
			}
			if asCSV {
				cw.Flush()
				return cw.Error()
			}
			if asJSON {
				if all == nil {
					all = []approvals.AuditEntry{}
				}
				return writeJSON(w, all)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON array")
	cmd.Flags().BoolVar(&asCSV, "csv", false, "CSV with a header row")
	cmd.Flags().Int64Var(&occ, "occurrence", 0, "only this occurrence")
	return cmd
}

func configCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check the configuration"}
	var offline bool
	var timeout time.Duration
	check := &cobra.Command{
		Use:   "check [--offline] [--timeout 10s]",
		Short: "Load the config, build every target and chat, ask each chat whether heed can read its rooms, and report problems",
		Long: "Load the config, build every target and chat, and report problems.\n" +
			"Then it asks each chat that can say (Matrix) whether each review room is end-to-end encrypted\n" +
			"and whether heed can read it, reading only: it logs in nowhere, sends nothing, and opens heed's\n" +
			"database (if there is one) read-only. --offline skips this; --timeout bounds each chat's answer.\n" +
			"It exits 1 when a room cannot be read or could not be checked.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return approvals.Errorf(approvals.EINVALID, "--timeout: give how long to wait for each chat, such as 10s")
			}
			c, err := a.config()
			if err != nil {
				return err
			}
			cat, err := c.Catalog(c.Logger(), a.out)
			if err != nil {
				return err
			}
			// Built as heed run builds them, with a state store that only
			// reads: a check writes no database.
			state := &checkState{}
			var checkers []roomChecker
			for _, name := range heedapp.SortedNames(c.Chats) {
				ch := c.Chats[name]
				if heedapp.KindOf(ch) == "console" {
					continue
				}
				var ids []string
				for _, r := range c.Rooms {
					if r.Chat == name {
						ids = append(ids, r.ID)
					}
				}
				ad, err := bot.NewAdapter(bot.AdapterConfig{Name: name, Kind: heedapp.KindOf(ch), Decode: c.Decoder(ch), RoomIDs: ids,
					State: state, Log: c.Logger()})
				if err != nil {
					return err
				}
				if rc, ok := ad.(bot.RoomChecker); ok {
					checkers = append(checkers, roomChecker{chat: name, RoomChecker: rc})
				}
			}
			w := cmd.OutOrStdout()
			src := a.cfgPath
			if src == "" {
				src = "(no file: built-in defaults)"
			}
			fmt.Fprintf(w, "config %s is valid\ndatabase: %s\nzone: %s\n", src, sqlite.Redact(c.Database), c.Zone)
			for _, name := range heedapp.SortedNames(c.Chats) {
				fmt.Fprintf(w, "chat: %s (%s)\n", name, heedapp.KindOf(c.Chats[name]))
			}
			for _, r := range c.Rooms {
				p := r.Policy().WithDefaults()
				who := strings.Join(r.Approvers, ", ")
				if r.Everyone {
					who = "everyone"
				}
				fmt.Fprintf(w, "room: %s in %s %s; approvers: %s; %d needed; approve %s; reject %s\n",
					r.Name, r.Chat, r.ID, who, p.Required, strings.Join(p.ApproveEmoji, " "), strings.Join(p.RejectEmoji, " "))
			}
			for _, n := range cat.Names() {
				fmt.Fprintf(w, "target: %s (%s)\n", n, cat.Kind(n))
			}
			g, err := c.Safeguards()
			if err != nil {
				return err
			}
			for _, r := range c.Rooms {
				fmt.Fprintf(w, "safeguards of %s: %s\n", r.Name, describeRoom(r, g.Room(r.Name)))
			}
			fmt.Fprintf(w, "sensitive days: %d known (shipped list", len(g.Sensitive.Entries()))
			if c.SensitiveDates != "" {
				fmt.Fprintf(w, " and %s", c.SensitiveDates)
			}
			fmt.Fprintln(w, "; more can be added in chat)")
			for _, n := range cat.Names() {
				a := g.AudienceOf(n, c.Zone)
				zones := make([]string, len(a.Zones))
				for i, z := range a.Zones {
					zones[i] = z.String()
				}
				cs := strings.Join(a.Countries, ", ")
				if cs == "" {
					cs = "none: only days for everyone"
				}
				fmt.Fprintf(w, "audience of %s: zones %s (and each post's own zone unless set); countries %s\n", n, strings.Join(zones, ", "), cs)
			}
			if len(c.Tripwire.Feeds) == 0 {
				fmt.Fprintln(w, "tripwire: off")
			} else {
				fmt.Fprintf(w, "tripwire: %d feed(s), keywords %s, auto_pause %v\n", len(c.Tripwire.Feeds), strings.Join(c.Tripwire.Keywords, ", "), c.Tripwire.AutoPause)
			}
			for _, f := range c.Sources.Feeds {
				when := "delay " + string(f.Delay)
				if len(f.Slots) > 0 {
					when = "slots " + strings.Join(f.Slots, ", ")
				}
				fmt.Fprintf(w, "feed %s: posts to %s, %s, backfill %d\n", f.Name, strings.Join(f.Targets, ", "), when, f.Backfill)
			}
			if len(checkers) == 0 {
				return nil
			}
			if offline {
				fmt.Fprintln(w, "review rooms: not asked whether heed can read them (--offline)")
				return nil
			}
			return checkRooms(cmd.Context(), w, c, state, checkers, timeout)
		},
	}
	check.Flags().BoolVar(&offline, "offline", false, "check the configuration alone: ask no chat whether heed can read its rooms")
	check.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "how long to wait for each chat's answers")
	cmd.AddCommand(check)
	return cmd
}

// roomChecker is a chat that can say whether heed can read its rooms.
type roomChecker struct {
	chat string
	bot.RoomChecker
}

// checkRooms asks each chat whether heed can read its review rooms, with
// heed's database opened read-only when it exists, and prints a line per
// room. It fails when a room needs attention.
func checkRooms(ctx context.Context, w io.Writer, c *heedapp.Config, state *checkState, checkers []roomChecker, timeout time.Duration) error {
	switch st, err := sqlite.OpenReadOnly(ctx, c.Database); {
	case err == nil:
		defer st.Close()
		state.st = st
		fmt.Fprintf(w, "review rooms: asking each chat whether heed can read them (reading only; --offline skips this), with %s opened read-only\n", c.Database)
	case approvals.ErrorCode(err) == approvals.ENOTFOUND:
		fmt.Fprintf(w, "review rooms: asking each chat whether heed can read them (reading only; --offline skips this); no database at %s yet, and none is created\n", c.Database)
	default:
		fmt.Fprintf(w, "review rooms: asking each chat whether heed can read them (reading only; --offline skips this); heed's database could not be read (%v), so the rooms are checked without it\n", err)
	}
	problems := 0
	for _, ch := range checkers {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		asked, rooms := ch.CheckRooms(cctx)
		cancel()
		fmt.Fprintf(w, "chat %s: %s\n", ch.chat, asked)
		// In the configuration's order, then the rooms only the chat's
		// own settings name.
		named := map[string]int{}
		for i, r := range c.Rooms {
			if r.Chat == ch.chat {
				named[r.ID] = i
			}
		}
		rank := func(r bot.RoomCheck) int {
			if i, ok := named[r.Room]; ok {
				return i
			}
			return len(c.Rooms)
		}
		slices.SortStableFunc(rooms, func(x, y bot.RoomCheck) int { return cmp.Compare(rank(x), rank(y)) })
		for _, r := range rooms {
			label := r.Room + " (" + ch.chat + ")"
			if i, ok := named[r.Room]; ok {
				label = c.Rooms[i].Name + " (" + ch.chat + " " + r.Room + ")"
			}
			fmt.Fprintf(w, "room %s: %s\n", label, r.Line)
			for _, n := range r.Notes {
				fmt.Fprintf(w, "  %s\n", n)
			}
			if r.Problem {
				problems++
			}
		}
	}
	if problems > 0 {
		return approvals.Errorf(approvals.EINVALID, "%d review room(s) cannot be read or could not be checked (see above)", problems)
	}
	return nil
}

func migrateCmd(a *app) *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "migrate [--to postgres://…]",
		Short: "Create the database if need be, bring its schema up to date and print its version; --to copies a SQLite database into an empty PostgreSQL one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if to != "" {
				return a.migrateTo(cmd, to)
			}
			st, c, err := a.store(ctx, true)
			if err != nil {
				return err
			}
			defer st.Close()
			cur, known, err := st.SchemaVersions(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: schema version %d (this heed knows up to %d)\n", sqlite.Redact(c.Database), cur, known)
			if w := permissionWarning(c.Database); w != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "copy this SQLite database into the empty PostgreSQL database at this URL (postgres://…)")
	return cmd
}

// migrateTo copies the configured SQLite database into an empty
// PostgreSQL database: its schema is made first, then every row is copied
// in one transaction, and the counts are compared. The source is left as
// it was; nothing is copied while a heed run holds it.
func (a *app) migrateTo(cmd *cobra.Command, to string) error {
	ctx := cmd.Context()
	if !sqlite.IsPostgres(to) {
		return approvals.Errorf(approvals.EINVALID, "--to %s: give the PostgreSQL database to copy into as a URL, postgres://user:password@host:5432/dbname", sqlite.Redact(to))
	}
	c, err := a.config()
	if err != nil {
		return err
	}
	if sqlite.IsPostgres(c.Database) {
		return approvals.Errorf(approvals.EINVALID, "the database to copy from is %s, already PostgreSQL: --to copies a SQLite database (--db heed.db)", sqlite.Redact(c.Database))
	}
	src, err := sqlite.OpenExisting(ctx, c.Database)
	if err != nil {
		return err
	}
	defer src.Close()
	holder, until, err := src.Lease(ctx, leaseName)
	if err != nil {
		return err
	}
	if holder != "" && until.After(time.Now()) && !holderGone(holder) {
		return approvals.Errorf(approvals.ECONFLICT, "a heed run (%s) holds %s: stop it first, so that nothing changes during the copy; nothing was copied", holder, c.Database)
	}
	// Refuse a database with data before making any table in it.
	if ro, err := sqlite.OpenReadOnly(ctx, to); err == nil {
		err = ro.EmptyTarget(ctx)
		ro.Close()
		if err != nil {
			return err
		}
	} else if approvals.ErrorCode(err) != approvals.ENOTFOUND {
		return err
	}
	dst, err := sqlite.Open(ctx, to)
	if err != nil {
		return err
	}
	defer dst.Close()
	if err := heedapp.PrepareTables(ctx, dst); err != nil {
		return err
	}
	rep, err := src.CopyTo(ctx, dst)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	var total int64
	for _, t := range rep.Tables {
		total += rep.Rows[t]
	}
	fmt.Fprintf(w, "copied %s into %s: %d rows in %d tables, each table's count checked\n", c.Database, sqlite.Redact(to), total, len(rep.Tables))
	for _, t := range rep.Tables {
		if rep.Rows[t] > 0 {
			fmt.Fprintf(w, "  %-36s %d\n", t, rep.Rows[t])
		}
	}
	fmt.Fprintf(w, "Now point heed at it (database: or HEED_DATABASE_URL), and keep %s as it is until heed runs well on PostgreSQL.\n", c.Database)
	if c.MediaDir == "" {
		dir, err := filepath.Abs(media.DirFor(c.Database))
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "The images stay in %s: set media_dir: %s in the configuration, so that heed on PostgreSQL finds them.\n", dir, dir)
	}
	return nil
}

func healthcheckCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 if heed is ready: its /readyz when http.listen is set, else a fresh lease on the database, or on PostgreSQL a replica on this host that heartbeats (for container health checks)",
		Long: "With http.listen configured, ask heed's /readyz and print its reasons: the store is reachable,\n" +
			"every chat is heard and the dispatcher cycled recently. Without it, check that a heed run holds a\n" +
			"fresh lease on the database (on PostgreSQL: a replica on this host heartbeats). Either way nothing is created or migrated.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := a.config()
			if err != nil {
				return err
			}
			if c.HTTP.Listen != "" {
				return readyz(ctx, c.HTTP.Listen, cmd.OutOrStdout())
			}
			st, err := sqlite.OpenReadOnly(ctx, c.Database)
			if err != nil {
				return err
			}
			defer st.Close()
			if st.Dialect() == sqlite.DialectPostgres {
				msg, err := replicaHealth(ctx, st, c, time.Now())
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), msg)
				return nil
			}
			holder, until, err := st.Lease(ctx, leaseName)
			if err != nil {
				return err
			}
			if holderGone(holder) {
				return approvals.Errorf(approvals.ECONFLICT, "the heed run that holds %s (%s) is no longer running", st.Path(), holder)
			}
			if holder == "" || until.Before(time.Now()) {
				return approvals.Errorf(approvals.ECONFLICT, "no heed run is renewing its lease on %s", st.Path())
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %s holds %s until %s\n", holder, st.Path(), until.Format(time.RFC3339))
			return nil
		},
	}
}

// readyz asks the /readyz of the heed listening on listen and prints the
// checks that failed; it fails unless heed is ready.
func readyz(ctx context.Context, listen string, out io.Writer) error {
	host, port, _ := net.SplitHostPort(listen)
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	u := "http://" + net.JoinHostPort(host, port) + "/readyz"
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return approvals.Errorf(approvals.EUNAVAILABLE, "heed does not answer at %s: %v", u, err)
	}
	defer resp.Body.Close()
	var rep httpd.Report
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&rep); err != nil {
		return approvals.Errorf(approvals.EUNAVAILABLE, "%s answered %s, not a readiness report", u, resp.Status)
	}
	var failed []string
	for _, ch := range rep.Checks {
		if !ch.OK {
			failed = append(failed, ch.Name+": "+ch.Reason)
		}
	}
	if resp.StatusCode != http.StatusOK && len(failed) == 0 {
		failed = append(failed, "answered "+resp.Status)
	}
	if len(failed) > 0 {
		return approvals.Errorf(approvals.ECONFLICT, "heed is not ready (%s): %s", u, strings.Join(failed, "; "))
	}
	fmt.Fprintf(out, "ok: ready (%s)\n", u)
	return nil
}

// describeRoom says in a line what a room's safeguards do.
func describeRoom(r heedapp.RoomConfig, rs timing.RoomSafeguards) string {
	var parts []string
	if rs.LastCall > 0 {
		parts = append(parts, "last call "+short(rs.LastCall)+" before")
	} else {
		parts = append(parts, "no last call")
	}
	if rs.Hours != nil {
		hours := strings.Join(r.StaffedHours, "; ")
		if hours == "" {
			hours = "any time"
		}
		if len(r.Holidays) > 0 {
			hours += " except holidays in " + strings.Join(r.Holidays, ", ")
		}
		parts = append(parts, "staffed "+hours+" ("+rs.Hours.Location().String()+")")
	} else {
		parts = append(parts, "always staffed")
	}
	if rs.OnDuty > 0 {
		parts = append(parts, "on duty within "+short(rs.OnDuty))
	}
	if rs.ApproveBy > 0 {
		remind := "reminders from " + short(rs.ApproveBy) + " before"
		if rs.RemindEvery > 0 {
			remind += ", every " + short(rs.RemindEvery)
		}
		if len(rs.EscalateTo) > 0 {
			remind += ", escalating to " + strings.Join(rs.EscalateTo, " ")
		}
		parts = append(parts, remind)
	}
	if rs.SensitiveRequired > 1 {
		parts = append(parts, fmt.Sprintf("%d approvals on sensitive days", rs.SensitiveRequired))
	}
	return strings.Join(parts, "; ")
}

// short is 20m rather than 20m0s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// daemonHolds says whether a running `heed run` holds the database the
// command just wrote (so it acts on it within a second), naming it. When
// none does, it says so loudly and returns an error, unless offline: a
// pause written to a database no running heed reads stops nothing.
func (a *app) daemonHolds(ctx context.Context, cmd *cobra.Command, svc *sqlite.Service, offline bool, what string) error {
	holder, until, err := svc.Store.Lease(ctx, leaseName)
	if err != nil {
		return err
	}
	if svc.Store.Dialect() == sqlite.DialectPostgres {
		if holder, until, err = liveReplicas(ctx, svc.Store, a.cfg); err != nil {
			return err
		}
	}
	path := svc.Store.Path()
	if holder != "" && until.After(time.Now()) {
		fmt.Fprintf(cmd.OutOrStdout(), "The running heed (%s) holds %s and acts on it within a second.\n", holder, path)
		return nil
	}
	if offline {
		fmt.Fprintf(cmd.OutOrStdout(), "No running heed holds %s (--offline). %s there and takes effect when heed starts.\n", path, what)
		return nil
	}
	return approvals.Errorf(approvals.ECONFLICT, "NO RUNNING HEED HOLDS %s. %s there, but if heed runs with another database, nothing stopped: "+
		"run this against the database `heed run` uses (--db, or database: in --config). Add --offline when heed is meant to be stopped", path, what)
}

// checkState is the bot.StateStore of config check: it reads heed's
// database, opened read-only, when there is one, and writes nothing.
type checkState struct{ st *sqlite.Store }

func (s *checkState) GetKV(ctx context.Context, key string) (string, error) {
	if s.st == nil {
		return "", nil
	}
	return s.st.GetKV(ctx, key)
}

func (s *checkState) SetKV(context.Context, string, string) error {
	return errors.New("config check writes nothing")
}

// DB is the read-only database handle, or nil: the Matrix adapter reads
// its crypto store through it.
func (s *checkState) DB() *sql.DB {
	if s.st == nil {
		return nil
	}
	return s.st.DB()
}

// Dialect is the read-only database's dialect.
func (s *checkState) Dialect() string {
	if s.st == nil {
		return ""
	}
	return s.st.Dialect()
}

// auditWho is who acted, as `heed audit` shows it: the name shown, then
// the identity used when it differs, and the person: "@alice (U0ALICE,
// person alice)".
func auditWho(e approvals.AuditEntry) string {
	var more []string
	if e.Identity != "" && e.Identity != e.Actor {
		more = append(more, e.Identity)
	}
	if e.Person != "" {
		more = append(more, "person "+e.Person)
	}
	if len(more) == 0 {
		return e.Actor
	}
	return e.Actor + " (" + strings.Join(more, ", ") + ")"
}
