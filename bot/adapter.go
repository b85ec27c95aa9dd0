// Package bot is the chat side of heed, independent of any one chat system:
// the adapter contract every chat implements, the engine that routes chat
// events (Engine), its card renderer (Cards), the handlers that turn
// commands and reactions into domain calls, its side of the news tripwire
// (Tripwire), command parsing, and the card model adapters render.
package bot

import (
	"context"
	"net/http"
	"time"

	"github.com/heed-dev/heed/approvals"
)

// MessageRef identifies a message in an adapter's own terms: a Slack ts, a
// Matrix event id, a console card number. The engine stores it opaquely.
type MessageRef string

// EventKind is what happened in the chat.
type EventKind string

const (
	// Reaction: a person added an emoji reaction to a message.
	Reaction EventKind = "reaction"
	// Unreaction: a person took a reaction back. Card and Emoji are set
	// where the chat says them (Slack); where it only names the reaction
	// event (a Matrix redaction), ReactionID alone is set.
	Unreaction EventKind = "unreaction"
	// Message: a person wrote in a review room, or in a card's thread.
	Message EventKind = "message"
	// PolicyChanged: who may approve in Room changed at the chat's end
	// (Matrix power levels, Slack user groups). The engine derives every
	// open card of the room again, so a reaction given before a promotion
	// counts from then on, and one from a demoted person stops counting.
	PolicyChanged EventKind = "policy"
)

// Event is one inbound chat event, translated by an adapter.
type Event struct {
	ID      string // the chat's own event id, used to drop duplicates; may be empty
	Kind    EventKind
	Adapter string // the adapter's Name()
	Room    string // the room/channel id in the adapter's terms
	User    string // the sender's stable id (@alice:example.org, U0123ABC)
	// UserName is how to show the sender ("@alice"); falls back to User.
	UserName string
	// FromBot is set for messages and reactions by any bot or app;
	// FromSelf for the bot's own. Neither ever counts as a decision.
	FromBot  bool
	FromSelf bool
	Card     MessageRef // for reactions: the message reacted to; for messages: the thread root, if any
	Emoji    string     // as the chat sent it: "✅", "white_check_mark", "+1::skin-tone-3"
	// ReactionID is the chat's id of the reaction itself, where it has one
	// (Matrix). Unreactions that only name it are matched through it.
	ReactionID string
	Text       string // for messages: the text with any leading mention of the bot removed
	// ReplyTo is, for a message sent as a reply to another (a Matrix
	// m.in_reply_to that is not a thread's fallback), the message it
	// answers; "" otherwise.
	ReplyTo MessageRef
	At      time.Time
}

// Handler receives inbound events. The engine implements it.
type Handler interface {
	HandleEvent(ctx context.Context, ev Event) error
}

// Adapter is one chat system. Adapters translate; they hold no policy.
type Adapter interface {
	// Name is the adapter's name in the configuration ("console", "matrix", "slack").
	Name() string
	// Run connects and delivers events to h until ctx is done or the
	// connection fails for good. Transient failures are retried inside Run.
	Run(ctx context.Context, h Handler) error
	// PostCard posts a new card into a review room.
	PostCard(ctx context.Context, room string, c Card) (MessageRef, error)
	// UpdateCard edits a card in place.
	UpdateCard(ctx context.Context, room string, ref MessageRef, c Card) error
	// Reply posts text into the thread of `thread`, or into the room when
	// thread is empty.
	Reply(ctx context.Context, room string, thread MessageRef, text string) error
	// Alive is the last time the adapter saw proof that it can hear the
	// room: a successful sync, an acknowledged socket frame, a signed
	// delivery. The zero time means never.
	Alive() time.Time
}

// Reconciler is implemented by adapters that can read a card's current
// reactions back from the chat. On start the engine reconciles every open
// card against it, so reactions added or taken back while heed was down
// count exactly once.
type Reconciler interface {
	// CardReactions returns one Reaction event per reaction currently on
	// the card (Card, Emoji, User, FromBot/FromSelf and ReactionID set).
	CardReactions(ctx context.Context, room string, ref MessageRef) ([]Event, error)
}

// CardReconciler is the engine's side of reading cards back, for adapters
// that do it themselves when they start (see SelfReconciler): the adapter
// lists its open cards, has each read back, tries a card that fails again
// until it is read, and says it is deaf (Hearing) until every one is.
// bot.Engine implements it.
type CardReconciler interface {
	// OpenCards lists the open cards in adapter's review rooms.
	OpenCards(ctx context.Context, adapter string) ([]approvals.CardRef, error)
	// ReconcileCard reads one card's reactions back through its adapter
	// (Reconciler) and makes the stored decisions match. An error means
	// the card was not reconciled, and nothing of it was changed.
	ReconcileCard(ctx context.Context, c approvals.CardRef) error
}

// SelfReconciler is implemented by adapters that reconcile their open
// cards themselves as soon as they start, through the handler's
// CardReconciler, and count as deaf until they did (Slack). The engine's
// Run leaves them to it.
type SelfReconciler interface {
	ReconcilesOnStart() bool
}

// Claimer is the engine's side of an adapter that must act on an event
// before it hands it over (a Slack button press is recorded in the card's
// thread first): it claims the event's id in the store, where every
// handled event's id is kept, so that a replay of it, also after a
// restart, does nothing. bot.Engine implements it.
type Claimer interface {
	// Claim records id as handled and reports whether this was its first
	// claim.
	Claim(ctx context.Context, adapter, id string) (first bool, err error)
}

// ApproverSource is implemented by adapters that know approvers beyond the
// explicit list: Slack user groups, Matrix power levels. The engine records
// what they say in the store as the room's roster, so that every process
// judges with it.
type ApproverSource interface {
	// Roster returns who may approve in room as the chat last said, from
	// memory, and false while the chat has not been read yet.
	Roster(room string) (approvals.Roster, bool)
}

// Hearing is implemented by adapters that know at once when they cannot
// hear the room, without waiting for DeafAfter of silence: a failed sync,
// a dropped connection, what was typed during a gap not yet read back,
// the end of the console's input.
type Hearing interface {
	// Deaf says why the chat cannot be heard now, or "" when it can.
	Deaf() string
}

// HTTPEndpoint is implemented by adapters that receive their chat's
// requests over HTTP on heed's own listener (Slack's Events API when
// http.listen is set). Path is "" when the adapter serves nothing there.
type HTTPEndpoint interface {
	HTTPEndpoint() (path string, h http.Handler)
}

// CardLinker is implemented by adapters whose chat can link to a message
// (a permalink): the web view links to an occurrence's card with it.
type CardLinker interface {
	CardLink(room string, ref MessageRef) string
}

// MessageReader is implemented by adapters that can read a message of a
// review room back, for a command sent as a reply to it (`schedule`
// without text takes the text of the message it answers).
type MessageReader interface {
	// MessageText returns the plain text of message ref in room, as a
	// person wrote it (without any quote of an earlier message). An error
	// says why it cannot be read and never carries the message's content.
	MessageText(ctx context.Context, room string, ref MessageRef) (string, error)
}

// Mentioner is implemented by adapters whose chat notifies a person only
// when mentioned in its own syntax (Slack's <@U0123>, a Matrix user id).
// Replies that must reach someone, such as the last call, use it.
type Mentioner interface {
	Mention(user string) string
}

// RoomChecker is implemented by adapters that can ask their chat whether
// heed can read each review room: for Matrix, whether a room is end-to-end
// encrypted and whether heed holds the keys to read it. `heed config
// check` calls it on an adapter it never runs, whose state store only
// reads; a check changes nothing, neither at the chat nor in heed's
// database, and never shows a token.
type RoomChecker interface {
	// CheckRooms asks the chat about every review room and returns whom it
	// asked (a homeserver and the bot's user id, or why it asked nobody)
	// and one RoomCheck per room. It gives up when ctx ends.
	CheckRooms(ctx context.Context) (asked string, rooms []RoomCheck)
}

// RoomCheck is what a RoomChecker found about one review room.
type RoomCheck struct {
	Room string // the room's id
	// Line says in one line whether the room is encrypted and whether
	// heed can read it, or why that could not be checked.
	Line string
	// Problem is set when heed cannot serve the room as configured, or
	// the room could not be checked: something to fix.
	Problem bool
	// Notes are further lines: the events in the room heed has not been
	// able to decrypt so far (who sent them and when, never content).
	Notes []string
}
