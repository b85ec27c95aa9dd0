package approvals

import (
	"context"
	"time"
)

// The domain's services, one per aggregate. The store implements them
// (package sqlite); the chat engine and the dispatcher use them and link
// no store.

// PostService keeps posts: what is to be published, where and when.
type PostService interface {
	// Validate checks a new post, naming what to fix.
	Validate(p NewPost, now time.Time) error
	// AddPost validates and stores a new post, and returns it with its id.
	AddPost(ctx context.Context, p NewPost, actor, place string) (Post, error)
	// GetPost returns one post.
	GetPost(ctx context.Context, id int64) (Post, error)
	// GetPostByKey returns the post imported with key.
	GetPostByKey(ctx context.Context, key string) (Post, error)
	// ListPosts returns posts, newest first; canceled ones only if asked.
	ListPosts(ctx context.Context, includeCanceled bool, limit int) ([]Post, error)
	// EditPost changes a post; the occurrences whose payload changes lose
	// their approvals.
	EditPost(ctx context.Context, id int64, e PostEdit, actor, place string) (Post, error)
	// CancelPost cancels a post and every open occurrence of it.
	CancelPost(ctx context.Context, id int64, actor, place string) error
	// Import upserts calendar entries by key: all of them, or none.
	Import(ctx context.Context, entries []ImportEntry, actor, place string, dryRun bool) (ImportResult, error)
	// Materialize turns the times of posts within the review window into
	// occurrences, and reports how many it made.
	Materialize(ctx context.Context) (int, error)
}

// ReviewService keeps occurrences under review: their decisions, cards,
// rosters and the timing safeguards' facts.
type ReviewService interface {
	// Occurrence returns the view of one occurrence.
	Occurrence(ctx context.Context, id int64) (View, error)
	// Queue lists the next open occurrences (and held ones), soonest first.
	Queue(ctx context.Context, limit int) ([]Summary, error)
	// Occurrences lists the occurrences of a post.
	Occurrences(ctx context.Context, postID int64, limit int) ([]Occurrence, error)
	// Counts returns how many occurrences are in each state.
	Counts(ctx context.Context) (map[State]int, error)

	// React records a reaction on a card and derives the state again.
	React(ctx context.Context, in ReactionInput) (ReactResult, error)
	// Unreact withdraws a reaction and derives the state again.
	Unreact(ctx context.Context, in UnreactionInput) (ReactResult, error)
	// Reconcile makes an occurrence's live reactions equal to those the
	// chat shows now.
	Reconcile(ctx context.Context, occ int64, current []ReactionInput) (added, withdrawn int, err error)
	// OpenReview marks an occurrence as under review once its card is
	// posted.
	OpenReview(ctx context.Context, id int64) error
	// Delay moves an occurrence later by d; its approvals are void.
	Delay(ctx context.Context, id int64, d time.Duration, actor, place string) (View, error)
	// CancelOccurrence drops one occurrence.
	CancelOccurrence(ctx context.Context, id int64, actor, place string) error
	// AllowOffHours lets an occurrence go out outside staffed hours.
	AllowOffHours(ctx context.Context, id int64, actor, place string) (View, error)

	// SetRoster records who may approve in a review room and judges its
	// open occurrences again if that changed; it reports how many changed
	// state.
	SetRoster(ctx context.Context, room string, isDefault bool, r Roster) (int, error)
	// Roster returns the roster recorded for a review room.
	Roster(ctx context.Context, room string) (Roster, bool, error)

	// SetCard records where an occurrence's card was posted.
	SetCard(ctx context.Context, c CardRef) error
	// Card returns the card of an occurrence in one adapter's room.
	Card(ctx context.Context, occ int64, adapter, room string) (CardRef, bool, error)
	// Supersede moves an occurrence's card to a fresh message (newRef),
	// after the post changed or was held since people approved it: the
	// decisions voided, which no longer count, are withdrawn, so that one
	// reaction on the fresh card approves the new version. It is audited.
	Supersede(ctx context.Context, old CardRef, newRef string, voided []Reaction) error
	// SetNotified records the state whose people were told in the card's
	// thread.
	SetNotified(ctx context.Context, c CardRef, st State) error
	// CardOccurrence finds the occurrence whose card is the given message.
	CardOccurrence(ctx context.Context, adapter, room, ref string) (int64, bool, error)
	// OpenCards lists the cards of occurrences that still wait for a
	// decision.
	OpenCards(ctx context.Context) ([]CardRef, error)
	// Dirty lists, by id after after, occurrences whose card changed since
	// it was last rendered.
	Dirty(ctx context.Context, after int64, limit int) ([]DirtyRef, error)
	// MarkRendered records that the cards of views were rendered.
	MarkRendered(ctx context.Context, views ...View) error
	// TouchOpen marks for rendering the open cards within the review
	// window either side of now.
	TouchOpen(ctx context.Context) error
	// Seen records, in one transaction, a chat event's id (reporting
	// whether it was seen before) and, when room and user are set, that
	// the user was in the review room at `at`.
	Seen(ctx context.Context, adapter, id, room, user string, at time.Time) (dup bool, err error)

	// LastCallsDue lists approved occurrences due within lead that have
	// had no last call for their time.
	LastCallsDue(ctx context.Context, now time.Time, lead time.Duration) ([]int64, error)
	// ClaimLastCall records that a last call is being sent; false when it
	// was sent already.
	ClaimLastCall(ctx context.Context, occ int64, at time.Time) (bool, error)
	// ReleaseLastCall undoes a claim whose message could not be sent.
	ReleaseLastCall(ctx context.Context, occ int64, at time.Time) error
	// RemindersDue lists the occurrences still in review whose time is
	// ahead and within horizon from now, with the last reminder each had
	// for its time.
	RemindersDue(ctx context.Context, now time.Time, horizon time.Duration) ([]ReminderDue, error)
	// ClaimReminder records, with its audit line, that reminder r is being
	// sent; false when it was sent already.
	ClaimReminder(ctx context.Context, r Reminder) (bool, error)
	// ReleaseReminder undoes a claim whose message could not be sent, and
	// audits why.
	ReleaseReminder(ctx context.Context, r Reminder, why string) error
	// AddSensitiveDate stores a sensitive day added from chat.
	AddSensitiveDate(ctx context.Context, date, name, actor, place string) (SensitiveDate, error)
	// SensitiveDates lists the days added from chat, oldest first.
	SensitiveDates(ctx context.Context) ([]SensitiveDate, error)
	// RefreshOpen derives the state of every open occurrence in the review
	// window again.
	RefreshOpen(ctx context.Context) error
	// TimingFor checks a post's time before it has an occurrence.
	TimingFor(p Post, at time.Time) TimingCheck
}

// PauseService keeps pauses and the retractions of what was published.
type PauseService interface {
	// PauseAll records a pause; no claim succeeds for what it covers from
	// the moment it commits.
	PauseAll(ctx context.Context, by, target, reason, place string) (PauseReceipt, error)
	// Resume lifts the pauses on target, or every pause when target is "".
	Resume(ctx context.Context, by, target, place string) (ResumeReceipt, error)
	// ActivePauses lists the pauses in force.
	ActivePauses(ctx context.Context) ([]Pause, error)

	// BeginRetract claims the published deliveries of an occurrence that
	// were not taken back yet.
	BeginRetract(ctx context.Context, id int64, canRetract func(target string) bool, actor, place string) ([]RetractItem, error)
	// RecordRetract stores a network's answer to a retraction under way.
	RecordRetract(ctx context.Context, it RetractItem, retractErr error, actor, place string) error
	// OfferRetract records an offer to retract what was published within
	// window before now.
	OfferRetract(ctx context.Context, window time.Duration, actor, reason, place string) (RetractOffer, error)
	// UnpostedOffers lists open offers not yet announced in the review
	// rooms.
	UnpostedOffers(ctx context.Context) ([]RetractOffer, error)
	// MarkOfferPosted records that an offer is being announced; false when
	// another cycle did so, or it was decided meanwhile.
	MarkOfferPosted(ctx context.Context, id int64) (bool, error)
	// DecideOffer confirms or cancels an open retract offer (the newest
	// when id is 0).
	DecideOffer(ctx context.Context, id int64, confirm bool, actor, place string) (RetractOffer, error)
}

// DeliveryService keeps deliveries: the claims and outcomes of publishing
// each occurrence × target.
type DeliveryService interface {
	// Due returns occurrences whose time has come and that still wait,
	// soonest first.
	Due(ctx context.Context, now time.Time, limit int) ([]int64, error)
	// NextWake is the earliest time the dispatcher has work.
	NextWake(ctx context.Context) (time.Time, bool, error)
	// Settle decides a due occurrence in one transaction: held, missed,
	// waiting, or each target claimed.
	Settle(ctx context.Context, id int64, now time.Time, opt SettleOptions) (SettleResult, error)
	// RetriesDue lists deliveries whose retry time has come.
	RetriesDue(ctx context.Context, now time.Time, limit int) ([]DeliveryRef, error)
	// ClaimRetry claims a delivery waiting for a retry.
	ClaimRetry(ctx context.Context, ref DeliveryRef, now time.Time, opt SettleOptions) (Claim, bool, error)
	// RecordPublish stores the outcome of a claimed delivery.
	RecordPublish(ctx context.Context, c Claim, out Outcome, now time.Time) error
	// RecoverCrashed marks every delivery left under way by a stopped
	// daemon as unknown.
	RecoverCrashed(ctx context.Context, honoursKey func(target string) bool) (int, error)
	// Resolve records a person's answer for an occurrence whose outcome is
	// unknown.
	Resolve(ctx context.Context, id int64, target string, published bool, url, actor, place string) error
	// Recheck says why a claimed delivery must not be sent now (a pause,
	// an approval that no longer holds), or "" when it may; it is asked
	// just before the request is written.
	Recheck(ctx context.Context, c Claim) (string, error)
}

// AuditService keeps the append-only audit log.
type AuditService interface {
	// Audit returns entries after id `after`, oldest first; occurrence 0
	// means all.
	Audit(ctx context.Context, after int64, occurrence int64, limit int) ([]AuditEntry, error)
	// Record appends an entry on its own, for actions outside the other
	// services' calls.
	Record(ctx context.Context, e AuditEntry) error
}
