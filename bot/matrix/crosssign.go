package matrix

import (
	"context"
	"fmt"
	"io"

	"maunium.net/go/mautrix"
)

// Cross-signing. So that Element shows heed's device as verified by its
// owner, heed's account gets cross-signing keys, and heed signs its device
// with the account's self-signing key:
//
//   - On the first start with encryption, when the account has no
//     cross-signing keys yet, heed makes them, stores their private parts
//     in the account's secret storage (SSSS) under a new recovery key,
//     publishes the public keys (the homeserver asks for the account's
//     password, which heed has when it logs in with one), signs its device
//     and prints the recovery key once, to standard error (never to the
//     log), with what to do with it.
//   - On a later start as a new device (the database was lost), heed opens
//     the secret storage with recovery_key from the configuration and signs
//     the new device. Without recovery_key it logs that the device is not
//     verified, and runs: encryption works, Element shows a warning.
//
// Each device is bootstrapped once; heed's database remembers it.

// WithRecoveryKeyOut sets where heed prints a new recovery key (default
// standard error).
func WithRecoveryKeyOut(w io.Writer) Option { return func(a *Adapter) { a.recoveryOut = w } }

// recoveryKeyNotice is printed once, with the recovery key.
const recoveryKeyNotice = `
heed set up cross-signing for its Matrix account %s, so that Element shows
its device %s as verified by its owner. This is heed's recovery key, shown
only this once:

    %s

Store it like a password (a password manager, your secret store), then put
it in heed's configuration as recovery_key: ${HEED_MATRIX_RECOVERY_KEY}
under the matrix chat. With it, heed signs a new device of its own if its
database is ever lost. Anyone holding it can sign devices as heed.

`

func (a *Adapter) bootstrapCrossSigning(ctx context.Context, cli *mautrix.Client) error {
	c := a.crypt()
	if c == nil {
		return nil
	}
	done := a.key(cli.UserID, "cross_signing/"+string(cli.DeviceID))
	if v, err := a.state.GetKV(ctx, done); err != nil || v != "" {
		return err
	}
	mach := c.mach
	pub, err := mach.GetOwnCrossSigningPublicKeys(ctx)
	if err != nil {
		return fmt.Errorf("matrix: read the account's cross-signing keys: %w", err)
	}
	switch {
	case pub == nil:
		var uia mautrix.UIACallback
		if a.cfg.Password != "" {
			uia = func(r *mautrix.RespUserInteractive) any {
				return &mautrix.ReqUIAuthLogin{BaseAuthData: mautrix.BaseAuthData{Type: mautrix.AuthTypePassword, Session: r.Session},
					User: cli.UserID.String(), Password: a.cfg.Password}
			}
		}
		key, _, err := mach.GenerateAndUploadCrossSigningKeys(ctx, uia, "")
		if err == nil {
			err = mach.SignOwnDevice(ctx, mach.OwnIdentity())
		}
		if err == nil {
			err = mach.SignOwnMasterKey(ctx)
		}
		if err != nil {
			// Encryption works without it; Element shows the device as
			// not verified.
			a.log.Error("matrix: could not set up cross-signing; heed's device will show as not verified", "err", err)
			return nil
		}
		fmt.Fprintf(a.recoveryOut, recoveryKeyNotice, cli.UserID, cli.DeviceID, key)
		a.log.Warn("matrix: set up cross-signing and printed heed's recovery key to standard error, once: store it and set recovery_key", "device", cli.DeviceID)
		return a.state.SetKV(ctx, done, "bootstrapped")
	case a.cfg.RecoveryKey != "":
		if err := mach.VerifyWithRecoveryKey(ctx, a.cfg.RecoveryKey); err != nil {
			a.log.Error("matrix: could not sign this device with recovery_key; it will show as not verified", "device", cli.DeviceID, "err", err)
			return nil
		}
		a.log.Info("matrix: signed this device with the account's cross-signing key (recovery_key)", "device", cli.DeviceID)
		return a.state.SetKV(ctx, done, "signed with recovery_key")
	default:
		a.log.Warn("matrix: heed's account has cross-signing keys but this device is not signed with them: set recovery_key to the key heed printed when it set them up; until then Element shows this device as not verified", "device", cli.DeviceID)
		return nil
	}
}
