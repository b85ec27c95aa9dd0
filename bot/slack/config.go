package slack

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

// Connection modes.
const (
	ModeSocket = "socket" // Socket Mode: an outbound websocket, no public URL (the default)
	ModeEvents = "events" // Events API: Slack POSTs signed requests to heed
)

// Config is the `slack:` section of heed's configuration. Secrets are
// written as ${ENV_VAR} and come from the environment.
type Config struct {
	// Mode is "socket" (default) or "events".
	Mode string `yaml:"mode"`
	// AppToken is the app-level token (xapp-…) with connections:write,
	// needed for Socket Mode.
	AppToken string `yaml:"app_token"`
	// BotToken is the bot token (xoxb-…) for the Web API.
	BotToken string `yaml:"bot_token"`
	// SigningSecret verifies Events API requests (events mode).
	SigningSecret string `yaml:"signing_secret"`
	// Listen is where the Events API endpoint listens (events mode);
	// default 127.0.0.1:3000, to sit behind a TLS reverse proxy.
	Listen string `yaml:"listen"`
	// Path is the Events API endpoint's path; default /slack/events. Point
	// the app's event subscriptions, interactivity and slash command at it.
	Path string `yaml:"path"`
	// APIURL overrides Slack's Web API base URL (tests, proxies).
	APIURL string `yaml:"api_url"`
	// GroupRefresh is how often user-group members are read again;
	// default 5m.
	GroupRefresh time.Duration `yaml:"group_refresh"`
	// Channels are review channels with approvers known to Slack. The
	// review rooms of heed's configuration that name this chat are review
	// channels too; list them here only to add approvers or groups.
	Channels []ChannelConfig `yaml:"channels"`
}

// ChannelConfig is one review channel and who may approve in it.
type ChannelConfig struct {
	// ID is the channel id (C…, or G… for a private channel), not its name:
	// names change, ids do not.
	ID string `yaml:"id"`
	// Approvers are user ids (U…/W…) who may approve.
	Approvers []string `yaml:"approvers"`
	// ApproverGroups are user-group ids (S…): their current members may
	// approve, read through usergroups.users.list and refreshed.
	ApproverGroups []string `yaml:"approver_groups"`
}

var (
	envRef    = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)
	channelID = regexp.MustCompile(`^[CG][A-Z0-9]{2,}$`)
	userID    = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	groupID   = regexp.MustCompile(`^S[A-Z0-9]{2,}$`)
)

// withDefaults fills defaults and expands a secret still written as
// ${VAR} (the configuration loader normally has done so already).
func (c Config) withDefaults() Config {
	if c.Mode == "" {
		c.Mode = ModeSocket
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:3000"
	}
	if c.Path == "" {
		c.Path = "/slack/events"
	}
	if c.APIURL == "" {
		c.APIURL = "https://slack.com/api/"
	}
	if !strings.HasSuffix(c.APIURL, "/") {
		c.APIURL += "/"
	}
	if c.GroupRefresh == 0 {
		c.GroupRefresh = 5 * time.Minute
	}
	for _, s := range []*string{&c.AppToken, &c.BotToken, &c.SigningSecret} {
		if m := envRef.FindStringSubmatch(*s); m != nil {
			*s = os.Getenv(m[1])
		}
	}
	return c
}

// Validate checks the configuration. Its errors name fields, never values,
// so that no secret reaches a log.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("slack: "+format, args...)) }
	if !strings.HasPrefix(c.BotToken, "xoxb-") {
		bad("bot_token must be a bot token (xoxb-…); set it as ${SLACK_BOT_TOKEN}")
	}
	switch c.Mode {
	case ModeSocket:
		if !strings.HasPrefix(c.AppToken, "xapp-") {
			bad("socket mode needs app_token, an app-level token (xapp-…) with connections:write; set it as ${SLACK_APP_TOKEN}")
		}
	case ModeEvents:
		if c.SigningSecret == "" {
			bad("events mode needs signing_secret (Basic Information → Signing Secret); set it as ${SLACK_SIGNING_SECRET}")
		}
		if !strings.HasPrefix(c.Path, "/") {
			bad("path must start with /")
		}
	default:
		bad("mode must be %q or %q, not %q", ModeSocket, ModeEvents, c.Mode)
	}
	if c.GroupRefresh < 0 {
		bad("group_refresh must be positive")
	}
	seen := map[string]bool{}
	for i, ch := range c.Channels {
		if !channelID.MatchString(ch.ID) {
			bad("channels[%d]: id %q is not a channel id (C… or G…; copy it from the channel's details)", i, ch.ID)
		}
		if seen[ch.ID] {
			bad("channels[%d]: channel %s listed twice", i, ch.ID)
		}
		seen[ch.ID] = true
		for _, u := range ch.Approvers {
			if !userID.MatchString(u) {
				bad("channels[%d]: approver %q is not a user id (U… or W…)", i, u)
			}
		}
		for _, g := range ch.ApproverGroups {
			if !groupID.MatchString(g) {
				bad("channels[%d]: approver group %q is not a user-group id (S…)", i, g)
			}
		}
	}
	return errors.Join(errs...)
}
