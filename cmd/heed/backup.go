package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/media"
	"github.com/heed-dev/heed/sqlite"
)

func backupCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of heed's database to FILE (and its images to FILE-media), while heed runs or not",
		Long: "Write a consistent copy of heed's database to FILE with SQLite's VACUUM INTO, readable by its owner only,\n" +
			"and copy the images of the media store to FILE-media beside it. heed may run meanwhile. FILE must not exist.\n" +
			"To restore, stop heed and put FILE (and FILE-media) where database: points, under its name.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.config()
			if err != nil {
				return err
			}
			if _, err := os.Stat(media.DirFor(args[0])); err == nil {
				return approvals.Errorf(approvals.ECONFLICT, "%s exists: give the backup another name, or remove it first", media.DirFor(args[0]))
			}
			st, err := sqlite.OpenReadOnly(ctx, c.Database)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.Backup(ctx, args[0]); err != nil {
				return err
			}
			n, err := st.Media().CopyTo(media.DirFor(args[0]))
			if err != nil {
				return fmt.Errorf("the database was backed up to %s, but its images were not: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backed up %s to %s", c.Database, args[0])
			if n > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), " and %d images to %s", n, media.DirFor(args[0]))
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	}
}
