// Package deploy holds the Docker Compose deployment of heed on
// PostgreSQL (compose.yaml, the configuration it mounts and the example
// of its environment file), embedded so that tests read them as built.
package deploy

import _ "embed"

var (
	// Compose is compose.yaml.
	//go:embed compose.yaml
	Compose []byte
	// Config is heed.yaml, the configuration compose.yaml mounts.
	//go:embed heed.yaml
	Config []byte
	// EnvExample is env.example, what deploy/.env must set.
	//go:embed env.example
	EnvExample []byte
)
