package app

import (
	"context"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/web"
)

// WebView builds the web view on the system: tokens says whose a
// person's API token is. Previews are the cards' own rendering, pausing
// and resuming are the chat commands' service calls, and resuming follows
// the chat's rule (approvers only).
func (s *System) WebView(tokens web.TokenVerifier) *web.View {
	return web.New(web.Deps{
		Verifier: tokens, Sessions: s.Store, Calendar: s.Store, Audit: s.Store,
		Reviews: s.Service.Reviews, Pauses: s.Service.Pauses, AuditLog: s.Service.Audit,
		Preview: s.webPreview, Card: s.webCard, MayResume: s.MayResume, Image: s.Store.Media().Read,
		Wake: s.Dispatcher.Wake, Zone: s.Engine.Zone, Now: s.now, Log: s.log.With("part", "web"),
	})
}

// reviewRoom is the review room of a post (the first room when it names
// none, or one no longer configured), as the engine picks it.
func (s *System) reviewRoom(name string) (bot.Room, bool) {
	if len(s.Engine.Rooms) == 0 {
		return bot.Room{}, false
	}
	for _, r := range s.Engine.Rooms {
		if r.Name == name {
			return r, true
		}
	}
	return s.Engine.Rooms[0], true
}

// webPreview renders v as its card in chat shows it.
func (s *System) webPreview(ctx context.Context, v approvals.View) (bot.Card, error) {
	room, _ := s.reviewRoom(v.Post.Room)
	pauses, err := s.Service.Pauses.ActivePauses(ctx)
	if err != nil {
		return bot.Card{}, err
	}
	return s.Engine.Cards().Build(v, room, pauses), nil
}

// webCard says where v's card is, with its permalink when the chat gives
// one.
func (s *System) webCard(ctx context.Context, v approvals.View) (web.CardPlace, error) {
	room, ok := s.reviewRoom(v.Post.Room)
	if !ok {
		return web.CardPlace{}, nil
	}
	p := web.CardPlace{Room: room.Name, Chat: room.Adapter}
	ref, found, err := s.Service.Reviews.Card(ctx, v.ID, room.Adapter, room.ID)
	if err != nil || !found {
		return p, err
	}
	p.Found = true
	for _, a := range s.Engine.Adapters {
		if l, ok := a.(bot.CardLinker); ok && a.Name() == room.Adapter {
			p.Link = l.CardLink(room.ID, bot.MessageRef(ref.Ref))
		}
	}
	return p, nil
}

// MayResume says whether person may resume (and cancel others' posts)
// from outside a review room, the HTTP API and the web view: as in chat,
// when one of their identities is an approver of a review room (its
// configured approvers, or who its chat last said may approve, as the
// store records it for every replica). If not, it says why.
func (s *System) MayResume(ctx context.Context, person string) (bool, string) {
	why := "not an approver"
	for _, room := range s.Engine.Rooms {
		p := s.Engine.PolicyFor(room.Name)
		if r, ok, err := s.Service.Reviews.Roster(ctx, room.Name); err == nil && ok {
			p.Roster = &r
		}
		for _, id := range p.People.Identities(person) {
			ok, w := p.IsApprover(id)
			if ok {
				return true, ""
			}
			if w != "" {
				why = w
			}
		}
	}
	return false, why
}
