//go:build !goolm

package matrix

// heed's Matrix adapter encrypts and decrypts with mautrix-go's pure-Go
// Olm (goolm), which is compiled in only with the build tag `goolm`.
// Without the tag mautrix would link libolm through cgo, which heed's
// static, cgo-free binary cannot, and a heed that silently lost encryption
// would refuse encrypted review rooms. So a build without the tag fails
// here, with this name in the error:
//
//	go build -tags goolm ./cmd/heed
//	go test -tags goolm ./...
var _ = heed_must_be_built_with_tags_goolm__see_README_Building
