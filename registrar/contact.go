package registrar

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/palio-voip/palio/sip"
)

// maxDelta is the largest expiry RFC 3261 §20.19 allows (2^32-1 seconds);
// larger values are taken as it.
const maxDelta = math.MaxUint32

// regRequest is what a REGISTER asks for, parsed and checked.
type regRequest struct {
	aor      string
	callID   string
	cseq     uint32
	star     bool // Contact: * (remove every binding)
	contacts []regContact
	// tooBrief is set when a contact asked for a positive expiry below
	// MinExpires and Config.MinExpiresReject is on.
	tooBrief bool
}

// regContact is one Contact of a REGISTER.
type regContact struct {
	uri      string
	expires  time.Duration // granted lifetime; 0 removes the binding
	q        float64
	instance string
}

// errBadRequest is a 400 the REGISTER deserves; its text is the reason
// phrase.
type errBadRequest string

func (e errBadRequest) Error() string { return string(e) }

// parseRegister reads the AOR, Call-ID, CSeq and contacts of a REGISTER and
// applies the expiry rules (RFC 3261 §10.3 steps 5 to 7, OpenSIPS save()):
// a Contact's expires parameter wins over the Expires header, which wins
// over DefaultExpires; a positive value under MinExpires is raised (or
// flagged for a 423), one over MaxExpires capped; "*" is allowed alone
// and with Expires: 0 only.
func (r *Registrar) parseRegister(req *sip.Request) (*regRequest, error) {
	to := req.To()
	if to == nil {
		return nil, errBadRequest("Missing To")
	}
	if s := to.Address.Scheme; (s != "sip" && s != "sips") || to.Address.User == "" || to.Address.Host == "" {
		return nil, errBadRequest("Invalid AOR")
	}
	cid := req.CallID()
	cseq := req.CSeq()
	if cid == nil || *cid == "" || cseq == nil {
		return nil, errBadRequest("Missing Call-ID or CSeq")
	}
	reg := &regRequest{aor: r.AOR(to.Address), callID: string(*cid), cseq: cseq.SeqNo}

	headerExpires, hasHeaderExpires := uint64(0), false
	if h := sip.FirstHeader(req, "Expires"); h != nil {
		v, err := parseDelta(h.Value())
		if err != nil {
			return nil, errBadRequest("Invalid Expires")
		}
		headerExpires, hasHeaderExpires = v, true
	}

	hs := sip.HeadersNamed(req, "Contact")
	reg.contacts = make([]regContact, 0, len(hs))
	for _, h := range hs {
		c, ok := h.(*sipmsg.ContactHeader)
		if !ok {
			return nil, errBadRequest("Invalid Contact")
		}
		if c.Address.Wildcard {
			reg.star = true
			continue
		}
		if s := c.Address.Scheme; (s != "sip" && s != "sips") || c.Address.Host == "" {
			return nil, errBadRequest("Invalid Contact")
		}
		rc := regContact{uri: c.Address.String(), q: 1}
		secs := uint64(r.cfg.DefaultExpires / time.Second)
		if v, ok := c.Params.Get("expires"); ok {
			d, err := parseDelta(v)
			if err != nil {
				return nil, errBadRequest("Invalid Contact expires")
			}
			secs = d
		} else if hasHeaderExpires {
			secs = headerExpires
		}
		rc.expires = r.grant(secs, &reg.tooBrief)
		if v, ok := c.Params.Get("q"); ok {
			q, err := strconv.ParseFloat(v, 64)
			if err != nil || !(q >= 0 && q <= 1) {
				return nil, errBadRequest("Invalid q")
			}
			rc.q = q
		}
		if v, ok := c.Params.Get("+sip.instance"); ok {
			rc.instance = strings.Trim(v, `"`)
		}
		// A contact listed twice counts once, as its last occurrence.
		if i := indexContact(reg.contacts, rc.uri); i >= 0 {
			reg.contacts[i] = rc
		} else {
			reg.contacts = append(reg.contacts, rc)
		}
	}
	if reg.star {
		switch {
		case len(reg.contacts) > 0:
			return nil, errBadRequest("Invalid Contact: * with other contacts")
		case !hasHeaderExpires || headerExpires != 0:
			return nil, errBadRequest("Invalid Contact: * needs Expires: 0")
		}
	}
	return reg, nil
}

func indexContact(cs []regContact, uri string) int {
	for i := range cs {
		if cs[i].uri == uri {
			return i
		}
	}
	return -1
}

// grant turns a requested expiry in seconds into the lifetime granted.
func (r *Registrar) grant(secs uint64, tooBrief *bool) time.Duration {
	if secs == 0 {
		return 0
	}
	d := time.Duration(secs) * time.Second
	if lo := r.cfg.MinExpires; d < lo {
		if r.cfg.MinExpiresReject {
			*tooBrief = true
		}
		d = lo
	}
	if hi := r.cfg.MaxExpires; hi > 0 && d > hi {
		d = hi
	}
	return d
}

var errDelta = errors.New("registrar: not a delta-seconds")

// parseDelta parses a delta-seconds value (RFC 3261 §25.1: digits only),
// taking values above 2^32-1 as 2^32-1.
func parseDelta(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errDelta
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errDelta
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v > maxDelta {
		return maxDelta, nil // only digits: too large
	}
	return v, nil
}
