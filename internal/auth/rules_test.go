package auth_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/auth"
)

func TestValidateSignup(t *testing.T) {
	const pw = "correct horse"
	type field struct {
		name string
		err  error
	}
	for _, c := range []struct {
		name                  string
		email, user, password string
		want                  []field
	}{
		{"valid", "ada@example.com", "Ada", pw, nil},
		{"empty name", "ada@example.com", "", pw, nil},
		{"8 characters, fewer bytes would not do", "ada@example.com", "", "éééééééé", nil},
		{"longest password", "ada@example.com", "", strings.Repeat("p", 256), nil},
		{"longest name", "ada@example.com", strings.Repeat("é", 100), pw, nil},
		{"empty email", "", "", pw, []field{{"email", auth.ErrEmailInvalid}}},
		{"no domain dot", "ada@localhost", "", pw, []field{{"email", auth.ErrEmailInvalid}}},
		{"display name", "Ada <ada@example.com>", "", pw, []field{{"email", auth.ErrEmailInvalid}}},
		{"no at", "ada.example.com", "", pw, []field{{"email", auth.ErrEmailInvalid}}},
		{"long email", strings.Repeat("a", 243) + "@example.com", "", pw, []field{{"email", auth.ErrEmailTooLong}}},
		{"long name", "ada@example.com", strings.Repeat("n", 101), pw, []field{{"name", auth.ErrNameTooLong}}},
		{"control in name", "ada@example.com", "Ada\tL", pw, []field{{"name", auth.ErrNameControl}}},
		{"DEL in name", "ada@example.com", "Ada\x7f", pw, []field{{"name", auth.ErrNameControl}}},
		{"short password", "ada@example.com", "", "1234567", []field{{"password", auth.ErrPasswordLength}}},
		{"7 characters in 14 bytes", "ada@example.com", "", "ééééééé", []field{{"password", auth.ErrPasswordLength}}},
		{"long password", "ada@example.com", "", strings.Repeat("é", 129), []field{{"password", auth.ErrPasswordLength}}},
		{"everything wrong, in field order", "x", "\x00", "", []field{{"email", auth.ErrEmailInvalid},
			{"name", auth.ErrNameControl}, {"password", auth.ErrPasswordLength}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := auth.ValidateSignup(c.email, c.user, c.password)
			if c.want == nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var se *auth.SignupError
			if !errors.As(err, &se) || len(se.Fields) != len(c.want) {
				t.Fatalf("got %v, want %d field errors", err, len(c.want))
			}
			for i, w := range c.want {
				if f := se.Fields[i]; f.Field != w.name || f.Err != w.err || !errors.Is(err, w.err) {
					t.Errorf("problem %d: got %s %v, want %s %v", i, f.Field, f.Err, w.name, w.err)
				}
			}
		})
	}
}

// TestRuleTexts pins the field errors' texts: the API answers them as they are.
func TestRuleTexts(t *testing.T) {
	for err, want := range map[error]string{
		auth.ErrEmailTooLong:   "must be at most 254 characters",
		auth.ErrEmailInvalid:   "must be a valid email address such as ada@example.com",
		auth.ErrNameTooLong:    "must be at most 100 characters",
		auth.ErrNameControl:    "must not contain control characters",
		auth.ErrPasswordLength: "must be 8 to 256 characters",
	} {
		if err.Error() != want {
			t.Errorf("got %q, want %q", err, want)
		}
	}
	err := auth.ValidateSignup("x", "", "pw")
	if want := "invalid signup: email must be a valid email address such as ada@example.com; password must be 8 to 256 characters"; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
}

func TestValidateLogin(t *testing.T) {
	for _, c := range []struct {
		email, password string
		ok              bool
	}{
		{"ada@example.com", "pw", true},
		{"not an address", "pw", true}, // answered by CheckLogin like any wrong guess
		{strings.Repeat("a", 254), strings.Repeat("p", 256), true},
		{"", "pw", false},
		{"ada@example.com", "", false},
		{strings.Repeat("a", 255), "pw", false},
		{"ada@example.com", strings.Repeat("p", 257), false},
	} {
		err := auth.ValidateLogin(c.email, c.password)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, auth.ErrInvalidCredentials)) {
			t.Errorf("ValidateLogin(%d bytes, %d bytes) = %v, want ok %v", len(c.email), len(c.password), err, c.ok)
		}
	}
}

func TestRefused(t *testing.T) {
	throttled := &auth.ThrottledError{RetryAfter: 2*time.Minute + 500*time.Millisecond}
	for _, c := range []struct {
		name   string
		err    error
		want   bool
		thr    bool
		secs   int64
		status int
	}{
		{"throttled", throttled, true, true, 121, http.StatusTooManyRequests},
		{"throttled, wrapped", fmt.Errorf("login: %w", throttled), true, true, 121, http.StatusTooManyRequests},
		{"throttled for under a second", &auth.ThrottledError{RetryAfter: time.Millisecond}, true, true, 1, http.StatusTooManyRequests},
		{"throttled for no time", &auth.ThrottledError{}, true, true, 1, http.StatusTooManyRequests},
		{"busy", auth.ErrBusy, true, false, 1, http.StatusServiceUnavailable},
		{"busy, wrapped", fmt.Errorf("signup: %w", auth.ErrBusy), true, false, 1, http.StatusServiceUnavailable},
		{"wrong password", auth.ErrInvalidCredentials, false, false, 0, 0},
		{"nil", nil, false, false, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			ref, ok := auth.Refused(c.err)
			if ok != c.want {
				t.Fatalf("Refused = %+v, %v", ref, ok)
			}
			if !ok {
				return
			}
			if ref.Throttled != c.thr || ref.RetryAfter != c.secs || ref.Status() != c.status || !errors.Is(c.err, ref.Err) {
				t.Errorf("got %+v (status %d)", ref, ref.Status())
			}
		})
	}
}
