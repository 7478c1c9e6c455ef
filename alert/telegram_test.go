package alert_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/palio-voip/palio/alert"
)

const botToken = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"

// botAPI stands in for api.telegram.org: it serves sendMessage for one
// bot, answering each request with the next of its scripted replies.
type botAPI struct {
	*httptest.Server
	mu       sync.Mutex
	requests []map[string]any
	paths    []string
}

type botReply struct {
	status int
	body   string
}

func newBotAPI(t *testing.T, replies ...botReply) *botAPI {
	b := &botAPI{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		n := len(b.paths)
		b.paths = append(b.paths, r.Method+" "+r.URL.Path)
		var req map[string]any
		if r.Header.Get("Content-Type") == "application/json" {
			_ = json.NewDecoder(r.Body).Decode(&req)
		}
		b.requests = append(b.requests, req)
		b.mu.Unlock()
		rep := replies[min(n, len(replies)-1)]
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.status)
		w.Write([]byte(rep.body))
	}))
	t.Cleanup(b.Close)
	return b
}

const botOK = `{"ok":true,"result":{"message_id":42,"chat":{"id":-1001234567890,"type":"supergroup"},"date":1764842400,"text":"…"}}`

// TestTelegram sends events through a local server standing in for the
// Bot API: the sendMessage request's method, path, chat_id and text; a
// 429 with retry_after and a 502 retried; an "ok": false refusal not
// retried; the token never in an error.
func TestTelegram(t *testing.T) {
	tests := []struct {
		name     string
		chat     string
		replies  []botReply
		wantErr  string
		requests int
	}{
		{"delivered", "-1001234567890", []botReply{{200, botOK}}, "", 1},
		{"channel name", "@unisi_voip", []botReply{{200, botOK}}, "", 1},
		{"flood wait then delivered", "-1001234567890", []botReply{
			{429, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}`},
			{502, `<html>Bad Gateway</html>`}, {200, botOK}}, "", 3},
		{"chat not found", "-1009", []botReply{{400, `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`}}, "chat not found", 1},
		{"ok false with 200", "-1009", []botReply{{200, `{"ok":false,"description":"odd"}`}}, "odd", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newBotAPI(t, tt.replies...)
			tg, err := alert.NewTelegram(alert.TelegramConfig{Token: botToken, ChatID: tt.chat, BaseURL: api.URL, Retry: fastRetry})
			if err != nil {
				t.Fatal(err)
			}
			err = tg.Notify(context.Background(), trunkEvent)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got %v, want a delivery", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), botToken):
				t.Errorf("the error shows the token: %v", err)
			}
			api.mu.Lock()
			defer api.mu.Unlock()
			if len(api.paths) != tt.requests {
				t.Fatalf("got %d requests, want %d", len(api.paths), tt.requests)
			}
			if want := "POST /bot" + botToken + "/sendMessage"; api.paths[0] != want {
				t.Errorf("request %q, want %q", api.paths[0], want)
			}
			req := api.requests[0]
			var wantChat any = tt.chat
			if !strings.HasPrefix(tt.chat, "@") {
				wantChat = json.Number(tt.chat)
			}
			if got := req["chat_id"]; mustJSON(t, got) != mustJSON(t, wantChat) {
				t.Errorf("chat_id %v (%T), want %v", got, got, wantChat)
			}
			text, _ := req["text"].(string)
			for _, want := range []string{"WARNING", "trunk-near-limit", "gw-siena-1", "24 of 30 channels in use", "calls: 24", "2026-12-04 10:00:00 UTC"} {
				if !strings.Contains(text, want) {
					t.Errorf("text %q lacks %q", text, want)
				}
			}
		})
	}
}

// TestTelegramUnreachable: an API that cannot be reached fails the
// delivery after the attempts, and the error, which would quote the
// request URL, does not show the token.
func TestTelegramUnreachable(t *testing.T) {
	api := newBotAPI(t, botReply{200, botOK})
	base := api.URL
	api.Close()
	tg, err := alert.NewTelegram(alert.TelegramConfig{Token: botToken, ChatID: "1", BaseURL: base, Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	err = tg.Notify(context.Background(), trunkEvent)
	if err == nil {
		t.Fatal("delivered to a closed server")
	}
	if strings.Contains(err.Error(), botToken) || !strings.Contains(err.Error(), "<token>") {
		t.Errorf("error %q: want the token replaced by <token>", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tg.Notify(ctx, trunkEvent); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v, want context.Canceled", err)
	}
	for _, bad := range []alert.TelegramConfig{{ChatID: "1"}, {Token: botToken}, {Token: "a/b", ChatID: "1"}, {Token: botToken, ChatID: "1", BaseURL: "ftp://x"}} {
		if _, err := alert.NewTelegram(bad); err == nil {
			t.Errorf("NewTelegram(%+v): no error", bad)
		}
	}
}
