package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/media"
)

// mediaLine describes an image as `heed post show` prints it: the path as
// given, its size, type, hash and alt text.
func mediaLine(m approvals.Media) string {
	return strings.TrimPrefix(bot.CardImage{Name: m.Path, Alt: m.Alt, Type: m.Type, Size: m.Size, SHA256: m.SHA256}.Line(), "🖼 ")
}

// attachCalendarMedia copies the images of a calendar's entries into the
// media store (with dryRun, only reads them), paths relative to the
// calendar file's directory. Every entry is tried, and every problem
// reported with its line; on any problem nothing is imported (copies
// already made stay in the store, unused: they change nothing stored).
func attachCalendarMedia(store *media.Store, file string, entries []approvals.ImportEntry, dryRun bool) error {
	var errs []string
	for i, e := range entries {
		ms, err := store.Attach(e.Post.Media, filepath.Dir(file), dryRun)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s (%s): %s", e.Where, e.Post.Key, approvals.ErrorMessage(err)))
			continue
		}
		entries[i].Post.Media = ms
	}
	if len(errs) > 0 {
		return approvals.Errorf(approvals.EINVALID, "%s\nnothing was imported", strings.Join(errs, "\n"))
	}
	return nil
}
