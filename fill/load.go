package fill

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Signatures. A manifest is signed with ed25519 over the exact bytes of the
// manifest file as published (the compressed bytes, for a compressed
// manifest), and the signature travels as a detached sidecar next to it:
// "manifest.json.sig" for "manifest.json", "https://host/m.json.zst.sig"
// for "https://host/m.json.zst" (the query, if any, is kept). The sidecar
// holds the 64-byte signature in standard base64, optionally followed by
// white space. A detached file keeps the manifest plain JSON that any tool
// reads, and lets the signature be checked before a byte of the manifest
// is decompressed or parsed.
//
// A public key is configured as 32 bytes in standard base64 or in hex.
// When one is configured, a manifest without a sidecar is refused
// (ErrUnsigned) and one whose signature does not verify is refused
// (ErrBadSignature); without a key, sidecars are not looked for.

// SignatureSuffix is appended to a manifest's file name or URL path to find
// its signature.
const SignatureSuffix = ".sig"

var (
	// ErrUnsigned is wrapped by the error refusing a manifest that has no
	// signature when a public key is configured.
	ErrUnsigned = errors.New("manifest is not signed, and a public key is configured")
	// ErrBadSignature is wrapped by the error refusing a manifest whose
	// signature does not verify with the configured public key.
	ErrBadSignature = errors.New("manifest signature does not verify")
)

// ParsePublicKey parses an ed25519 public key written as 32 bytes in
// standard base64 or in hex.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == ed25519.PublicKeySize {
		return ed25519.PublicKey(b), nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("ed25519 public key: want %d bytes in base64 or hex", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// Sign returns the contents of the signature sidecar of a manifest file
// holding data: the ed25519 signature in base64 and a newline.
func Sign(priv ed25519.PrivateKey, data []byte) []byte {
	sig := ed25519.Sign(priv, data)
	return []byte(base64.StdEncoding.EncodeToString(sig) + "\n")
}

// VerifySignature checks sidecar (the contents of a signature file) against
// the manifest file's bytes data with pub.
func VerifySignature(pub ed25519.PublicKey, data, sidecar []byte) error {
	sig, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(sidecar)))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: the signature file does not hold a base64 ed25519 signature", ErrBadSignature)
	}
	if !ed25519.Verify(pub, data, sig) {
		return ErrBadSignature
	}
	return nil
}

// DefaultLoadTimeout is the default LoadOptions.Timeout.
const DefaultLoadTimeout = time.Minute

// LoadOptions configure Load.
type LoadOptions struct {
	// PublicKey, if set, makes a signature required (see the package's
	// Signatures section).
	PublicKey ed25519.PublicKey
	// Client fetches http:// and https:// manifests; default a client
	// with Timeout.
	Client *http.Client
	// Timeout bounds the download of a manifest and of its signature
	// (each); default DefaultLoadTimeout.
	Timeout time.Duration
	// Parse configures parsing; its Source defaults to the file or URL.
	Parse ParseOptions
}

// Load reads the manifest at src, a file path or an http:// or https://
// URL, checks its signature when a public key is configured, and parses it
// (see Parse). Errors name src.
func Load(ctx context.Context, src string, opt LoadOptions) (*Manifest, error) {
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultLoadTimeout
	}
	if opt.Parse.MaxBytes <= 0 {
		opt.Parse.MaxBytes = DefaultMaxManifestBytes
	}
	if opt.Parse.Source == "" {
		opt.Parse.Source = src
	}
	read := readFile
	sigSrc := src + SignatureSuffix
	if isURL(src) {
		u, err := url.Parse(src)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", src, err)
		}
		u.Path += SignatureSuffix
		u.RawPath = ""
		sigSrc = u.String()
		client := opt.Client
		if client == nil {
			client = &http.Client{Timeout: opt.Timeout}
		}
		read = func(ctx context.Context, src string, max int64) ([]byte, error) {
			return readURL(ctx, client, opt.Timeout, src, max)
		}
	}
	// The compressed bytes of a manifest are at most its limit too: a
	// manifest compresses, it does not grow.
	data, err := read(ctx, src, opt.Parse.MaxBytes)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", src, err)
	}
	if opt.PublicKey != nil {
		sig, err := read(ctx, sigSrc, 4096)
		if errors.Is(err, errNotFound) {
			return nil, fmt.Errorf("manifest %s: no signature at %s: %w", src, sigSrc, ErrUnsigned)
		}
		if err != nil {
			return nil, fmt.Errorf("manifest %s: signature %s: %w", src, sigSrc, err)
		}
		if err := VerifySignature(opt.PublicKey, data, sig); err != nil {
			return nil, fmt.Errorf("manifest %s: signature %s: %w", src, sigSrc, err)
		}
	}
	return Parse(data, opt.Parse)
}

// isURL reports whether src names an http:// or https:// URL.
func isURL(src string) bool {
	return strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://")
}

// errNotFound is what readFile and readURL wrap for a missing file or a 404.
var errNotFound = errors.New("not found")

// readFile reads at most max bytes of the file src.
func readFile(_ context.Context, src string, max int64) ([]byte, error) {
	f, err := os.Open(src)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %w", errNotFound, err)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readMax(f, max)
}

// readURL downloads at most max bytes from src.
func readURL(ctx context.Context, client *http.Client, timeout time.Duration, src string, max int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, fmt.Errorf("%w: HTTP %s", errNotFound, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	return readMax(resp.Body, max)
}

// readMax reads r to its end, refusing more than max bytes.
func readMax(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("more than %d bytes: %w", max, ErrManifest)
	}
	return b, nil
}
