package slack

import (
	"os"
	"slices"
	"testing"

	"github.com/goccy/go-yaml"
)

// TestManifest checks that the app manifest at the repository root asks
// for every scope and event the adapter relies on.
func TestManifest(t *testing.T) {
	b, err := os.ReadFile("../../slack-app-manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Features struct {
			Shortcuts []struct {
				Name       string `yaml:"name"`
				Type       string `yaml:"type"`
				CallbackID string `yaml:"callback_id"`
			} `yaml:"shortcuts"`
			SlashCommands []struct {
				Command string `yaml:"command"`
			} `yaml:"slash_commands"`
		} `yaml:"features"`
		OAuth struct {
			Scopes struct {
				Bot []string `yaml:"bot"`
			} `yaml:"scopes"`
		} `yaml:"oauth_config"`
		Settings struct {
			Events struct {
				BotEvents []string `yaml:"bot_events"`
			} `yaml:"event_subscriptions"`
			Interactivity struct {
				Enabled bool `yaml:"is_enabled"`
			} `yaml:"interactivity"`
			SocketMode bool `yaml:"socket_mode_enabled"`
		} `yaml:"settings"`
	}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"chat:write", "files:write", "reactions:read", "channels:history", "groups:history", "usergroups:read",
		"users:read", "commands", "app_mentions:read", "metadata.message:read"} {
		if !slices.Contains(m.OAuth.Scopes.Bot, s) {
			t.Errorf("manifest lacks bot scope %s", s)
		}
	}
	for _, e := range []string{"reaction_added", "reaction_removed", "message.channels", "message.groups", "app_mention"} {
		if !slices.Contains(m.Settings.Events.BotEvents, e) {
			t.Errorf("manifest lacks bot event %s", e)
		}
	}
	if len(m.Features.SlashCommands) != 1 || m.Features.SlashCommands[0].Command != "/heed" {
		t.Errorf("slash commands = %+v, want /heed", m.Features.SlashCommands)
	}
	if len(m.Features.Shortcuts) != 1 || m.Features.Shortcuts[0].Type != "message" || m.Features.Shortcuts[0].CallbackID != callbackSchedule {
		t.Errorf("shortcuts = %+v, want the message shortcut %s", m.Features.Shortcuts, callbackSchedule)
	}
	if !m.Settings.Interactivity.Enabled || !m.Settings.SocketMode {
		t.Errorf("interactivity %v, socket mode %v: want both on", m.Settings.Interactivity.Enabled, m.Settings.SocketMode)
	}
}
