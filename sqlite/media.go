package sqlite

import (
	"context"
	"time"

	"github.com/heed-dev/heed/media"
)

// Media is the media store, where each image of a post is kept by its
// SHA-256 (package media): beside a SQLite database, the directory named
// after its file ("heed.db-media"); for PostgreSQL, DefaultPostgresMedia
// unless SetMediaDir named another.
func (s *Store) Media() *media.Store { return media.New(s.mediaDir) }

// SetMediaDir puts the media store in dir.
func (s *Store) SetMediaDir(dir string) { s.mediaDir = dir }

// ReadImage returns an image's bytes from the media store, checked against
// its SHA-256 (media.Store.Read).
func (s *Store) ReadImage(sum string) ([]byte, error) { return s.Media().Read(sum) }

// CardImages returns the SHA-256 of every image posted in the thread of
// the card at ref.
func (s *Store) CardImages(ctx context.Context, adapter, room, ref string) (map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT sha256 FROM card_images WHERE adapter = ? AND room = ? AND ref = ?`, adapter, room, ref)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var sum string
		if err := rows.Scan(&sum); err != nil {
			return nil, err
		}
		out[sum] = true
	}
	return out, rows.Err()
}

// AddCardImage records that the image with SHA-256 sum was posted in the
// thread of the card at ref.
func (s *Store) AddCardImage(ctx context.Context, adapter, room, ref, sum string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO card_images (adapter, room, ref, sha256, posted_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, adapter, room, ref, sum, ms(at))
	return err
}
