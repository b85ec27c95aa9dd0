// Package kinds links every publisher kind and chat kind heed ships: each
// registers itself by kind when imported. A program that builds heed from
// a Config (cmd/heed) imports it. Package app does not: the Slack and
// Matrix adapters' tests build their stacks with internal/heedtest, which
// uses app.
package kinds

import (
	"github.com/heed-dev/heed/app"
	"github.com/heed-dev/heed/bot/matrix"
	_ "github.com/heed-dev/heed/bot/slack"
	_ "github.com/heed-dev/heed/publish/bluesky"
	_ "github.com/heed-dev/heed/publish/facebook"
	_ "github.com/heed-dev/heed/publish/linkedin"
	_ "github.com/heed-dev/heed/publish/logpub"
	_ "github.com/heed-dev/heed/publish/mastodon"
	_ "github.com/heed-dev/heed/publish/matrixpub"
	_ "github.com/heed-dev/heed/publish/slackpub"
	_ "github.com/heed-dev/heed/publish/webhook"
	_ "github.com/heed-dev/heed/publish/x"
)

// The Matrix crypto and state stores keep tables in heed's database, which
// `heed migrate --to` makes in a new database before it copies rows.
func init() { app.RegisterTables(matrix.PrepareDatabase) }
