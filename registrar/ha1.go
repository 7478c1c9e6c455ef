package registrar

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// The digest algorithms the registrar challenges with (RFC 8760 names).
const (
	MD5    = "MD5"
	SHA256 = "SHA-256"
)

// HA1 returns the hex digest of "username:realm:password" with algorithm
// (MD5, the default when empty, or SHA-256): what the subscriber table's
// ha1 and ha1_sha256 columns hold (RFC 7616 §3.4.2).
func HA1(username, realm, password, algorithm string) (string, error) {
	h, err := newHash(algorithm)
	if err != nil {
		return "", err
	}
	h.Write([]byte(username))
	h.Write([]byte{':'})
	h.Write([]byte(realm))
	h.Write([]byte{':'})
	h.Write([]byte(password))
	return hex.EncodeToString(h.Sum(nil)), nil
}

func newHash(algorithm string) (hash.Hash, error) {
	switch strings.ToUpper(algorithm) {
	case "", MD5:
		return md5.New(), nil
	case SHA256:
		return sha256.New(), nil
	}
	return nil, fmt.Errorf("registrar: algorithm %q: want %s or %s", algorithm, MD5, SHA256)
}

// NewSubscriber returns the account username@domain with both HA1 columns
// computed for password, taking the domain as the realm (as OpenSIPS's
// tools do), and no plaintext password kept.
func NewSubscriber(username, domain, password string) Subscriber {
	return NewSubscriberIn(username, domain, domain, password)
}

// NewSubscriberIn is NewSubscriber for a registrar whose realm is not the
// account's domain (Config.Realm): the HA1s are computed for realm, as
// OpenSIPS's calculate_ha1 does with its realm.
func NewSubscriberIn(username, domain, realm, password string) Subscriber {
	md, _ := HA1(username, realm, password, MD5)
	sha, _ := HA1(username, realm, password, SHA256)
	return Subscriber{Username: username, Domain: domain, HA1: md, HA1SHA256: sha}
}
