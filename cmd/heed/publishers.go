package main

// Every publisher kind heed ships registers itself here.
import (
	_ "github.com/heed-dev/heed/publish/logpub"
)
