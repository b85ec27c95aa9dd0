//go:build tools

// Package tools pins the Dendrite homeserver that heed's Matrix tests run
// against. It is a module of its own so that Dendrite's dependencies never
// reach heed's go.mod; scripts/dendrite.sh builds these four commands.
package tools

import (
	_ "github.com/element-hq/dendrite/cmd/create-account"
	_ "github.com/element-hq/dendrite/cmd/dendrite"
	_ "github.com/element-hq/dendrite/cmd/generate-config"
	_ "github.com/element-hq/dendrite/cmd/generate-keys"
)
