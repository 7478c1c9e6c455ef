package features

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Keys are the settings Set knows, in the order `feature show` prints
// them.
var Keys = []string{
	"forward-always", "forward-busy", "forward-noanswer", "noanswer-after", "forward-unreachable",
	"dnd", "anonymous-block", "secretary", "secretary-allow", "ring-boss-after", "boss-when-secretary-fails",
}

// Set changes one setting of s from an operator's words, and checks the
// result (Validate): key is one of Keys; value "off" (or "") turns the
// service off. Targets are numbers (5003, 0577232111, VM_5002); timers
// durations ("20s"); dnd takes on, off, unavailable, busy or voicemail;
// the switches on or off; secretary-allow a comma-separated list of users.
// On error s is unchanged.
func (s *Settings) Set(key, value string) error {
	n := *s
	off := value == "" || strings.EqualFold(value, "off")
	onOff := func() (bool, error) {
		switch strings.ToLower(value) {
		case "on", "yes", "true":
			return true, nil
		case "", "off", "no", "false":
			return false, nil
		}
		return false, fmt.Errorf("features: %s %q: want on or off", key, value)
	}
	dur := func() (time.Duration, error) {
		if off {
			return 0, nil
		}
		d, err := time.ParseDuration(value)
		if err != nil {
			return 0, fmt.Errorf("features: %s %q: want a duration such as 20s", key, value)
		}
		if d <= 0 {
			return 0, fmt.Errorf("features: %s %v: want 1s to %v, or off", key, d, MaxNoAnswerAfter)
		}
		return d, nil
	}
	target := value
	if off {
		target = ""
	}
	var err error
	switch key {
	case "forward-always":
		n.ForwardAlways = target
	case "forward-busy":
		n.ForwardBusy = target
	case "forward-noanswer":
		n.ForwardNoAnswer = target
	case "noanswer-after":
		n.NoAnswerAfter, err = dur()
	case "forward-unreachable":
		n.ForwardUnreachable = target
	case "dnd":
		switch DNDAction(strings.ToLower(value)) {
		case DNDUnavailable, DNDBusy, DNDVoicemail:
			n.DND, n.DNDAction = true, DNDAction(strings.ToLower(value))
		default:
			n.DND, err = onOff()
			if err != nil {
				err = fmt.Errorf("features: dnd %q: want on, off, unavailable, busy or voicemail", value)
			}
		}
	case "anonymous-block":
		n.AnonymousBlock, err = onOff()
	case "secretary":
		n.Secretary = target
	case "secretary-allow":
		n.SecretaryAllow = nil
		if !off {
			for u := range strings.SplitSeq(value, ",") {
				if u = strings.TrimSpace(u); u != "" {
					n.SecretaryAllow = append(n.SecretaryAllow, u)
				}
			}
		}
	case "ring-boss-after":
		n.RingBossAfter, err = dur()
	case "boss-when-secretary-fails":
		n.BossWhenSecretaryFails, err = onOff()
	default:
		return fmt.Errorf("features: unknown setting %q (want one of %s)", key, strings.Join(Keys, ", "))
	}
	if err != nil {
		return err
	}
	if err := n.Validate(); err != nil {
		return err
	}
	*s = n
	return nil
}

// Get returns the value of one setting as Set takes it ("off" for a
// service off).
func (s Settings) Get(key string) string {
	str := func(v string) string {
		if v == "" {
			return "off"
		}
		return v
	}
	sw := func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	d := func(v time.Duration) string {
		if v == 0 {
			return "off"
		}
		return v.String()
	}
	switch key {
	case "forward-always":
		return str(s.ForwardAlways)
	case "forward-busy":
		return str(s.ForwardBusy)
	case "forward-noanswer":
		return str(s.ForwardNoAnswer)
	case "noanswer-after":
		return d(s.NoAnswerAfter)
	case "forward-unreachable":
		return str(s.ForwardUnreachable)
	case "dnd":
		if !s.DND {
			return "off"
		}
		if s.DNDAction == "" {
			return string(DNDUnavailable)
		}
		return string(s.DNDAction)
	case "anonymous-block":
		return sw(s.AnonymousBlock)
	case "secretary":
		return str(s.Secretary)
	case "secretary-allow":
		return str(strings.Join(s.SecretaryAllow, ","))
	case "ring-boss-after":
		return d(s.RingBossAfter)
	case "boss-when-secretary-fails":
		return sw(s.BossWhenSecretaryFails)
	}
	return ""
}

// Change is an operator's change of one account's settings: cur with
// each KEY VALUE pair of pairs applied (Set), checked as a whole. It
// returns the new settings and the keys whose value changed, as
// "key=value". Settings that turn every service off remove the
// account's row, and with it the timers and secretary options: a pair
// that sets one of those alone is refused, since it would be lost.
// exists, when not nil, reports whether a user of the account's domain
// is an account: a new secretary must be one (an error otherwise), a new
// allow-list user that is not gives a warning. Warnings also name
// settings that do nothing yet (a no-answer timer without the forward,
// secretary options without a secretary). On error cur is what stands.
func Change(ctx context.Context, cur Settings, pairs []string, exists func(ctx context.Context, user string) (bool, error)) (next Settings, changed, warnings []string, err error) {
	if len(pairs) == 0 {
		return cur, nil, nil, fmt.Errorf("features: nothing to change: give KEY VALUE pairs (keys: %s)", strings.Join(Keys, ", "))
	}
	if len(pairs)%2 != 0 {
		return cur, nil, nil, fmt.Errorf("features: setting %q has no value (give KEY VALUE pairs)", pairs[len(pairs)-1])
	}
	next = cur
	next.SecretaryAllow = slices.Clone(cur.SecretaryAllow)
	for i := 0; i < len(pairs); i += 2 {
		if err := next.Set(pairs[i], pairs[i+1]); err != nil {
			return cur, nil, nil, err
		}
	}
	if next.Empty() {
		for i := 0; i < len(pairs); i += 2 {
			if k := pairs[i]; next.Get(k) != "off" {
				return cur, nil, nil, fmt.Errorf("features: %s %s is kept only with a service on (a forward, dnd, anonymous-block or secretary): give one with it", k, next.Get(k))
			}
		}
		next = Settings{User: cur.User, Domain: cur.Domain}
	}
	if exists != nil {
		if next.Secretary != "" && next.Secretary != cur.Secretary {
			ok, err := exists(ctx, next.Secretary)
			if err != nil {
				return cur, nil, nil, err
			}
			if !ok {
				return cur, nil, nil, fmt.Errorf("features: secretary %s: no account %s@%s", next.Secretary, next.Secretary, next.Domain)
			}
		}
		for _, a := range next.SecretaryAllow {
			if slices.Contains(cur.SecretaryAllow, a) {
				continue
			}
			ok, err := exists(ctx, a)
			if err != nil {
				return cur, nil, nil, err
			}
			if !ok {
				warnings = append(warnings, fmt.Sprintf("secretary-allow %s: no account %s@%s (kept: it counts once the account exists)", a, a, next.Domain))
			}
		}
	}
	if next.NoAnswerAfter != 0 && next.ForwardNoAnswer == "" {
		warnings = append(warnings, fmt.Sprintf("noanswer-after %v does nothing until forward-noanswer is set", next.NoAnswerAfter))
	}
	if next.Secretary == "" && (len(next.SecretaryAllow) > 0 || next.RingBossAfter != 0 || next.BossWhenSecretaryFails) {
		warnings = append(warnings, "the secretary settings do nothing until secretary is set")
	}
	for _, k := range Keys {
		if v := next.Get(k); v != cur.Get(k) {
			changed = append(changed, k+"="+v)
		}
	}
	return next, changed, warnings, nil
}
