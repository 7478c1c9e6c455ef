package registrar_test

import (
	"testing"

	"github.com/palio-voip/palio/registrar"
)

func TestSubscriberValidate(t *testing.T) {
	ok := registrar.NewSubscriberIn("5100", "voip.unisi.it", "voip.unisi.it", "s3cret")
	tests := []struct {
		name string
		edit func(*registrar.Subscriber)
		want bool // valid
	}{
		{"a new account", func(*registrar.Subscriber) {}, true},
		{"with classes", func(s *registrar.Subscriber) { s.Classes = []string{"local", "national"} }, true},
		{"a plaintext password only", func(s *registrar.Subscriber) { s.HA1, s.HA1SHA256, s.Password = "", "", "pw" }, true},
		{"empty user", func(s *registrar.Subscriber) { s.Username = "" }, false},
		{"user with @", func(s *registrar.Subscriber) { s.Username = "5100@x" }, false},
		{"user with a space", func(s *registrar.Subscriber) { s.Username = "51 00" }, false},
		{"no domain", func(s *registrar.Subscriber) { s.Domain = "" }, false},
		{"domain with a slash", func(s *registrar.Subscriber) { s.Domain = "unisi.it/x" }, false},
		{"no way to authenticate", func(s *registrar.Subscriber) { s.HA1, s.HA1SHA256 = "", "" }, false},
		{"a class with a comma", func(s *registrar.Subscriber) { s.Classes = []string{"local,national"} }, false},
		{"an empty inbound class", func(s *registrar.Subscriber) { s.InboundClasses = []string{""} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.edit(&s)
			if err := s.Validate(); (err == nil) != tt.want {
				t.Errorf("got %v, want valid %v", err, tt.want)
			}
		})
	}
}
