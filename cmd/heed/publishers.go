package main

// Every publisher kind and chat kind heed ships registers itself here.
import (
	_ "github.com/heed-dev/heed/bot/matrix"
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
