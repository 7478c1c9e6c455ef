package sip

import (
	"errors"
	"fmt"
	"strings"
)

// userPartSpecials are the characters an account or alias name may not
// hold although RFC 3261 allows some of them escaped in a user part: they
// separate the parts of a URI ('@', ':', ';', '?', '/'), of a header
// ('<', '>', '"', ',') or of OpenSIPS's table rows.
const userPartSpecials = "@:;<>\"?,/\\"

// CheckUserPart reports why s cannot be the user part of a SIP URI that
// names a local account or alias ("5002", "FAX_5500", "mario.rossi"): it
// is empty, or holds a space, a control character or one of
// @ : ; < > " ? , / \. Such names would be read back as a different URI.
func CheckUserPart(s string) error {
	if s == "" {
		return errors.New("empty user part")
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f {
			return fmt.Errorf("user part %q holds a space or control character", s)
		}
		if strings.ContainsRune(userPartSpecials, c) {
			return fmt.Errorf("user part %q may not contain %q", s, c)
		}
	}
	return nil
}
