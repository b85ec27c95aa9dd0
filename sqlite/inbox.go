package sqlite

import (
	"context"
	"database/sql"

	"github.com/heed-dev/heed/approvals"
)

// A chat whose requests may reach any replica (Slack's Events API behind
// a load balancer) keeps those that reached a replica not holding it in
// chat_inbox, once per key, until the holder handles them.

// KeepRequest stores a verified request for the chat's holder. It
// reports false when a request with that key is stored already: a retry
// that reached another replica.
func (s *Store) KeepRequest(ctx context.Context, r approvals.ChatRequest) (bool, error) {
	var kept bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO chat_inbox (chat, key, content_type, body, received_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, r.Chat, r.Key, r.ContentType, string(r.Body), ms(r.Received))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		kept = n == 1
		return err
	})
	return kept, err
}

// KeptRequests lists up to n requests kept for the chat, the oldest first.
func (s *Store) KeptRequests(ctx context.Context, chat string, n int) ([]approvals.ChatRequest, error) {
	return queryAll(ctx, s.db, func(r scanner) (approvals.ChatRequest, error) {
		var c approvals.ChatRequest
		var body string
		var at int64
		err := r.Scan(&c.Chat, &c.Key, &c.ContentType, &body, &at)
		c.Body, c.Received = []byte(body), fromMS(at)
		return c, err
	}, `SELECT chat, key, content_type, body, received_at FROM chat_inbox WHERE chat = ? ORDER BY received_at, key LIMIT ?`, chat, n)
}

// DropRequest deletes a kept request its holder has handled.
func (s *Store) DropRequest(ctx context.Context, chat, key string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM chat_inbox WHERE chat = ? AND key = ?`, chat, key)
		return err
	})
}
