package mediabridge

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"strings"
)

// maxMultipartDepth bounds the nesting of multipart bodies (RFC 5621 §3.1
// allows a multipart/alternative inside a multipart/mixed); deeper bodies
// are refused rather than searched.
const maxMultipartDepth = 4

// lengthField is a Content-Length header of a MIME part that encloses the
// SDP (or is the SDP part): the span of its value in the SIP body and the
// real length of the part body it describes. Rewrite writes partLen plus
// the change in the SDP's length there.
type lengthField struct {
	start, end int
	partLen    int
}

// sdpLocation is where the SDP sits in a SIP body.
type sdpLocation struct {
	start, end int
	lengths    []lengthField
	found      bool
}

// mediaType returns the lower-case type/subtype of a Content-Type value
// and its parameters. A value mime refuses still yields its type, so that
// "application/sdp;" or a broken parameter does not hide the SDP.
func mediaType(contentType string) (string, map[string]string) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err == nil || mt != "" {
		return mt, params
	}
	mt, _, _ = strings.Cut(contentType, ";")
	return strings.ToLower(strings.TrimSpace(mt)), nil
}

// locate finds the application/sdp body or part of body, recursing into
// multipart bodies. enclosing lists the Content-Length headers of the
// parts around this one.
func locate(contentType string, body []byte, base, depth int, enclosing []lengthField, loc *sdpLocation) error {
	mt, params := mediaType(contentType)
	switch {
	case mt == "application/sdp":
		if loc.found {
			// In multipart/alternative the receiver picks one; rewriting
			// only one of two would let media bypass the relay.
			return &SyntaxError{Err: errors.New("more than one application/sdp part")}
		}
		loc.found = true
		loc.start, loc.end = base, base+len(body)
		loc.lengths = append([]lengthField(nil), enclosing...)
		return nil
	case strings.HasPrefix(mt, "multipart/"):
		if depth >= maxMultipartDepth {
			return &SyntaxError{Err: fmt.Errorf("multipart nested more than %d deep", maxMultipartDepth)}
		}
		boundary := params["boundary"]
		if boundary == "" {
			return &SyntaxError{Err: fmt.Errorf("%s without a boundary", mt)}
		}
		return locateParts(body, boundary, base, depth, enclosing, loc)
	}
	return nil
}

// locateParts walks the parts of a multipart body (RFC 2046 §5.1.1): a
// delimiter is a line "--boundary" (the line break before it belongs to
// it), the close delimiter "--boundary--"; transport padding (spaces and
// tabs) may follow either. The preamble and epilogue are ignored and kept.
func locateParts(body []byte, boundary string, base, depth int, enclosing []lengthField, loc *sdpLocation) error {
	delim := "--" + boundary
	partStart := -1
	for pos := 0; pos < len(body); {
		lineEnd := len(body)
		next := len(body)
		if i := bytes.IndexByte(body[pos:], '\n'); i >= 0 {
			lineEnd, next = pos+i, pos+i+1
		}
		line := bytes.TrimSuffix(body[pos:lineEnd], []byte("\r"))
		if rest, ok := bytes.CutPrefix(line, []byte(delim)); ok {
			closing := false
			if r, ok := bytes.CutPrefix(rest, []byte("--")); ok {
				rest, closing = r, true
			}
			if len(bytes.Trim(rest, " \t")) == 0 {
				if partStart >= 0 {
					end := pos
					if end > 0 && body[end-1] == '\n' {
						end--
						if end > 0 && body[end-1] == '\r' {
							end--
						}
					}
					end = max(end, partStart)
					if err := locatePart(body[partStart:end], base+partStart, depth, enclosing, loc); err != nil {
						return err
					}
				}
				if closing {
					return nil
				}
				partStart = next
			}
		}
		pos = next
	}
	return &SyntaxError{Err: fmt.Errorf("multipart body without the close delimiter %q", delim+"--")}
}

// locatePart reads the headers of one MIME part and looks for the SDP in
// its body. Header names are matched case-insensitively, folded lines are
// joined, and SIP's compact forms c and l are understood too.
func locatePart(part []byte, base, depth int, enclosing []lengthField, loc *sdpLocation) error {
	contentType, encoding := "text/plain", ""
	length := lengthField{start: -1}
	bodyStart := len(part)
	var name string
	var value []byte
	valueStart, folded := 0, false
	flush := func() {
		switch strings.ToLower(name) {
		case "content-type", "c":
			contentType = string(bytes.TrimSpace(value))
		case "content-transfer-encoding":
			encoding = strings.ToLower(string(bytes.TrimSpace(value)))
		case "content-length", "l":
			if !folded {
				trimmed := bytes.TrimSpace(value)
				off := valueStart + bytes.Index(value, trimmed)
				length = lengthField{start: base + off, end: base + off + len(trimmed)}
			}
		}
		name = ""
	}
	for pos := 0; pos < len(part); {
		lineEnd, next := len(part), len(part)
		if i := bytes.IndexByte(part[pos:], '\n'); i >= 0 {
			lineEnd, next = pos+i, pos+i+1
		}
		line := bytes.TrimSuffix(part[pos:lineEnd], []byte("\r"))
		switch {
		case len(line) == 0:
			flush()
			bodyStart = next
			next = len(part)
		case line[0] == ' ' || line[0] == '\t':
			if name != "" {
				value = append(append(value[:len(value):len(value)], ' '), bytes.TrimSpace(line)...)
				folded = true
			}
		default:
			flush()
			n, v, ok := bytes.Cut(line, []byte(":"))
			if ok {
				name = string(bytes.TrimSpace(n))
				value = v
				valueStart = pos + len(n) + 1
				folded = false
			}
		}
		pos = next
	}
	flush()
	if mt, _ := mediaType(contentType); mt == "application/sdp" {
		switch encoding {
		case "", "7bit", "8bit", "binary":
		default:
			return &SyntaxError{Err: fmt.Errorf("application/sdp part with Content-Transfer-Encoding %s", encoding)}
		}
	}
	if length.start >= 0 {
		length.partLen = len(part) - bodyStart
		enclosing = append(enclosing[:len(enclosing):len(enclosing)], length)
	}
	return locate(contentType, part[bodyStart:], base+bodyStart, depth+1, enclosing, loc)
}
