package heed

import (
	_ "github.com/slack-go/slack"
	_ "maunium.net/go/mautrix"
	_ "github.com/robfig/cron/v3"
	_ "modernc.org/sqlite"
	_ "github.com/pressly/goose/v3"
	_ "github.com/goccy/go-yaml"
	_ "github.com/spf13/cobra"
	_ "github.com/cenkalti/backoff/v5"
	_ "golang.org/x/time/rate"
	_ "github.com/kyokomi/emoji/v2"
	_ "go.mau.fi/util/variationselector"
	_ "github.com/rivo/uniseg"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/markusmobius/go-dateparser"
)

import (
	_ "github.com/gorilla/websocket"
	_ "github.com/rickar/cal/v2"
	_ "github.com/mmcdole/gofeed"
	_ "mvdan.cc/xurls/v2"
	_ "golang.org/x/text/unicode/norm"
)
