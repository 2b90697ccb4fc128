package registry

import (
	"errors"
	"fmt"
)

// Error codes: stable strings that the admin API returns and tools may test.
const (
	CodeInvalid           = "invalid"            // a request that makes no sense (bad name, missing field)
	CodeTooLarge          = "too_large"          // module over the size limit
	CodeDigestMismatch    = "digest_mismatch"    // the given digest is not the module's
	CodeBadManifest       = "bad_manifest"       // manifest fails to parse or validate
	CodeSignatureRequired = "signature_required" // trusted keys are configured and the upload is unsigned
	CodeBadSignature      = "bad_signature"      // no trusted key verifies the signature
	CodeLimits            = "limits"             // the manifest asks more than the operator allows
	CodeModuleRefused     = "module_refused"     // not Wasm, truncated, missing hook exports, imports not granted...
	CodeSelfTest          = "self_test_failed"   // a declared hook failed on the golden vectors
	CodeBadConfig         = "bad_config"         // a binding's config fails the plugin's schema
	CodeExists            = "exists"             // name@version is taken by another module
	CodeNotFound          = "not_found"
	CodeBound             = "bound"    // a version in use cannot be deleted
	CodeBuiltin           = "builtin"  // built-ins cannot be deleted or replaced
	CodeConflict          = "conflict" // If-Match names a revision that is no longer current
	CodePipeline          = "pipeline" // the new pipeline could not be built; the old one runs on
	CodeStorage           = "storage"  // the database failed
)

// Error is a refusal with a stable code and a message that says why.
type Error struct {
	Code    string
	Message string
	Err     error // the cause, if any
}

func (e *Error) Error() string { return e.Message }

func (e *Error) Unwrap() error { return e.Err }

func errorf(code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), Err: errors.Unwrap(err)}
}

// CodeOf returns the code of err: its *Error's, or CodeStorage for anything else.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeStorage
}
