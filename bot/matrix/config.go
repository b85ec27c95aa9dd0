package matrix

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Config is one `kind: matrix` entry under `chats:` in heed's configuration.
// Secrets are written as ${ENV_VAR} and come from the environment.
type Config struct {
	// Homeserver is the client-server API base URL, e.g. https://matrix.example.org.
	Homeserver string `yaml:"homeserver"`
	// UserID and Password: the bot logs in and keeps its device id and
	// access token in heed's database, so restarts reuse one device.
	UserID   string `yaml:"user_id"`
	Password string `yaml:"password"`
	// AccessToken instead of a password: a token made elsewhere (for
	// example by logging in once with curl). UserID is then optional.
	AccessToken string `yaml:"access_token"`
	// Rooms are per-room approver settings. Rooms named only in heed's
	// top-level `rooms:` list are served too, with the approvers listed there.
	Rooms []RoomConfig `yaml:"rooms"`
	// Bots are user ids of other bots and bridges in the review rooms: their
	// reactions never count and their messages never command heed.
	Bots []string `yaml:"bots"`
	// PickleKey turns on end-to-end encryption: heed's Olm account and
	// Megolm sessions are kept in heed's database, encrypted with this key
	// (${HEED_MATRIX_PICKLE_KEY}; at least 32 characters, for example
	// `openssl rand -hex 32`). Without it an encrypted review room is
	// refused. It must stay the same for the life of the database.
	PickleKey string `yaml:"pickle_key"`
	// RecoveryKey is the recovery key heed printed when it set up
	// cross-signing (${HEED_MATRIX_RECOVERY_KEY}). With it, a new device
	// (after the database was lost) signs itself, so Element shows it as
	// verified by its owner.
	RecoveryKey string `yaml:"recovery_key"`
	// DecryptWait is how long an event heed cannot decrypt holds
	// publishing while heed asks for its key (default 15m).
	DecryptWait string `yaml:"decrypt_wait"`
}

// decryptWait is DecryptWait parsed (Validate checked it), or the default.
func (c Config) decryptWait() time.Duration {
	if d, err := time.ParseDuration(c.DecryptWait); err == nil && d > 0 {
		return d
	}
	return defaultDecryptWait
}

// RoomConfig is who may approve in one review room.
type RoomConfig struct {
	// ID is the room id (!abc:example.org), not an alias: aliases can be
	// moved to another room, ids cannot.
	ID string `yaml:"id"`
	// Approvers are user ids (@alice:example.org) who may approve.
	Approvers []string `yaml:"approvers"`
	// ApproverPowerLevel, when set, lets everyone whose power level in the
	// room is at least this approve (50 = moderators in most clients). It is
	// read from m.room.power_levels and followed as that changes.
	ApproverPowerLevel *int `yaml:"approver_power_level"`
}

var (
	userIDRe = regexp.MustCompile(`^@[^:\s]+:\S+$`)
	// A room id is !opaque:server, or, from room version 12 on, !opaque
	// with no server part (the hash of the room's create event).
	roomIDRe = regexp.MustCompile(`^![^:\s]+(:\S+)?$`)
)

// Validate checks the configuration. Its errors name fields, never the
// values of secrets.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("matrix: "+format, args...)) }
	if u, err := url.Parse(c.Homeserver); c.Homeserver == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("homeserver must be the homeserver's base URL, like https://matrix.example.org")
	}
	if c.UserID != "" && !userIDRe.MatchString(c.UserID) {
		bad("user_id %q is not a Matrix user id (@name:server)", c.UserID)
	}
	switch {
	case c.AccessToken == "" && c.Password == "":
		bad("set either access_token, or user_id and password (as ${MATRIX_PASSWORD})")
	case c.AccessToken != "" && c.Password != "":
		bad("set access_token or password, not both")
	case c.Password != "" && c.UserID == "":
		bad("password needs user_id")
	}
	if c.PickleKey != "" && len(c.PickleKey) < 32 {
		bad("pickle_key must be at least 32 characters (for example `openssl rand -hex 32`)")
	}
	if c.RecoveryKey != "" && c.PickleKey == "" {
		bad("recovery_key needs pickle_key: encryption is off without it")
	}
	if c.DecryptWait != "" {
		if d, err := time.ParseDuration(c.DecryptWait); err != nil || d <= 0 {
			bad("decrypt_wait %q is not a duration like 15m", c.DecryptWait)
		}
	}
	seen := map[string]bool{}
	for i, r := range c.Rooms {
		if !roomIDRe.MatchString(r.ID) {
			bad("rooms[%d]: id %q is not a room id (!abc:server, or !abc in room version 12; in Element: room settings → Advanced)", i, r.ID)
		}
		if seen[r.ID] {
			bad("rooms[%d]: room %s listed twice", i, r.ID)
		}
		seen[r.ID] = true
		for _, u := range r.Approvers {
			if !userIDRe.MatchString(u) {
				bad("rooms[%d]: approver %q is not a user id (@name:server)", i, u)
			}
		}
		if r.ApproverPowerLevel != nil && *r.ApproverPowerLevel < 1 {
			bad("rooms[%d]: approver_power_level must be 1 or more (0 is everyone in most rooms)", i)
		}
	}
	for _, u := range c.Bots {
		if !userIDRe.MatchString(u) {
			bad("bots: %q is not a user id (@name:server)", u)
		}
	}
	return errors.Join(errs...)
}

func (c Config) homeserver() string { return strings.TrimRight(c.Homeserver, "/") }
