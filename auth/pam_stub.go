//go:build !cgo || !linux

package auth

import (
	"context"
	"errors"
	"fmt"
	"runtime"
)

// PAMBuiltIn reports whether this binary can authenticate against PAM.
const PAMBuiltIn = false

// PAM stands in for the PAM backend in a binary built without it (PAM
// support needs cgo, libpam0g-dev and Linux). NewPAM always fails, so the
// daemon says so at start-up; the htpasswd backend works as usual.
type PAM struct{}

// NewPAM reports that PAM support is not built in.
func NewPAM(opts PAMOptions) (*PAM, error) {
	if _, _, err := opts.withDefaults(); err != nil {
		return nil, err
	}
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("PAM support not built in (PAM is supported on Linux only, this is %s)", runtime.GOOS)
	}
	return nil, errors.New("PAM support not built in (binary built without cgo)")
}

// Authenticate always fails with ErrUnavailable; NewPAM never returns a
// PAM to call it on.
func (*PAM) Authenticate(ctx context.Context, username, password string) (Identity, error) {
	return Identity{}, fmt.Errorf("%w: PAM support not built in", ErrUnavailable)
}

// Flush does nothing; NewPAM never returns a PAM to call it on.
func (*PAM) Flush() error { return nil }
