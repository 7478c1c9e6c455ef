package alert

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Kind says what an Event reports. Kinds are stable strings: notifier
// configurations, webhook receivers and log filters match on them.
type Kind string

// The kinds of events. The recovery kinds (trunk-cleared, gateway-up,
// database-reachable) follow the problem they end.
const (
	// KindTrunkNearLimit: the calls in progress on a gateway or carrier
	// reached its alarm threshold (routing's trunk alarm).
	KindTrunkNearLimit Kind = "trunk-near-limit"
	// KindTrunkCleared: they fell back below it.
	KindTrunkCleared Kind = "trunk-cleared"
	// KindGatewayDown: a gateway stopped answering (probes, or calls with
	// a disabling code) or an operator disabled it.
	KindGatewayDown Kind = "gateway-down"
	// KindGatewayUp: a gateway is in service again.
	KindGatewayUp Kind = "gateway-up"
	// KindFraudWarning and KindFraudCritical: a user's calls crossed a
	// fraud-detection threshold (OpenSIPS's E_FRD_WARNING, E_FRD_CRITICAL).
	KindFraudWarning  Kind = "fraud-warning"
	KindFraudCritical Kind = "fraud-critical"
	// KindBan: a source address or a user was banned (flood,
	// authentication failures).
	KindBan Kind = "ban"
	// KindDatabaseUnreachable: the store stopped answering.
	KindDatabaseUnreachable Kind = "database-unreachable"
	// KindDatabaseReachable: it answers again.
	KindDatabaseReachable Kind = "database-reachable"
	// KindDailyReport: the day's call report.
	KindDailyReport Kind = "daily-report"
)

var kindSeverity = map[Kind]Severity{
	KindTrunkNearLimit:      SeverityWarning,
	KindTrunkCleared:        SeverityInfo,
	KindGatewayDown:         SeverityCritical,
	KindGatewayUp:           SeverityInfo,
	KindFraudWarning:        SeverityWarning,
	KindFraudCritical:       SeverityCritical,
	KindBan:                 SeverityWarning,
	KindDatabaseUnreachable: SeverityCritical,
	KindDatabaseReachable:   SeverityInfo,
	KindDailyReport:         SeverityInfo,
}

// Kinds returns every kind, sorted.
func Kinds() []Kind { return slices.Sorted(maps.Keys(kindSeverity)) }

// ParseKind returns the kind named s, or an error naming the known ones.
func ParseKind(s string) (Kind, error) {
	k := Kind(strings.ToLower(strings.TrimSpace(s)))
	if _, ok := kindSeverity[k]; !ok {
		names := make([]string, 0, len(kindSeverity))
		for _, k := range Kinds() {
			names = append(names, string(k))
		}
		return "", fmt.Errorf("alert: unknown kind %q (want one of %s)", s, strings.Join(names, ", "))
	}
	return k, nil
}

// Severity says how urgent an event is. The zero value means "the kind's
// own" (Publish fills it in).
type Severity int

// The severities, least urgent first.
const (
	SeverityInfo Severity = iota + 1
	SeverityWarning
	SeverityCritical
)

// DefaultSeverity is the severity events of the kind get when the
// publisher sets none: warning for unknown kinds.
func (k Kind) DefaultSeverity() Severity {
	if s, ok := kindSeverity[k]; ok {
		return s
	}
	return SeverityWarning
}

// String returns "info", "warning" or "critical".
func (s Severity) String() string {
	switch s {
	case SeverityInfo:
		return "info"
	case SeverityWarning:
		return "warning"
	case SeverityCritical:
		return "critical"
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// MarshalText writes the severity's name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads "info", "warning" or "critical".
func (s *Severity) UnmarshalText(b []byte) error {
	switch strings.ToLower(string(b)) {
	case "info":
		*s = SeverityInfo
	case "warning":
		*s = SeverityWarning
	case "critical":
		*s = SeverityCritical
	default:
		return fmt.Errorf("alert: severity %q: want info, warning or critical", b)
	}
	return nil
}

// Event is one thing an operator should hear about.
type Event struct {
	// Kind says what happened.
	Kind Kind `json:"kind"`
	// Severity is how urgent it is (zero: the kind's default).
	Severity Severity `json:"severity"`
	// Time is when it happened (zero: when it was published).
	Time time.Time `json:"time"`
	// Subject is what it concerns: a gateway or carrier id, a user, an
	// address, "database".
	Subject string `json:"subject,omitempty"`
	// Message says it in one line, for people.
	Message string `json:"message"`
	// Fields are details for machines and for the curious ("calls": "24",
	// "channels": "30"); keys are short and lower-case.
	Fields map[string]string `json:"fields,omitempty"`
}

// String describes the event on one line: "[warning] trunk-near-limit
// gw-siena-1: 24 of 30 channels in use".
func (e Event) String() string {
	var sb strings.Builder
	sb.WriteString("[" + e.Severity.String() + "] " + string(e.Kind))
	if e.Subject != "" {
		sb.WriteString(" " + e.Subject)
	}
	if e.Message != "" {
		sb.WriteString(": " + e.Message)
	}
	return sb.String()
}

// fieldKeys returns the event's field names, sorted.
func (e Event) fieldKeys() []string { return slices.Sorted(maps.Keys(e.Fields)) }
