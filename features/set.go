package features

import (
	"fmt"
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
