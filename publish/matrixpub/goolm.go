//go:build !goolm

package matrixpub

// The matrix target encrypts with mautrix-go's pure-Go Olm (goolm), which
// is compiled in only with the build tag `goolm`; without it mautrix would
// link libolm through cgo. So a build without the tag fails here, with
// this name in the error:
//
//	go build -tags goolm ./cmd/heed
//	go test -tags goolm ./...
var _ = heed_must_be_built_with_tags_goolm__see_README_Building
