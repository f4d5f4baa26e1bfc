package auth

import (
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"
)

// The account rules both front ends (the JSON API and the dashboard's forms) apply:
// what a signup must look like, which logins are refused before any work, and what a
// refusal to check a password means for the client. Each front end renders the
// errors in its own format; the rules live here, once.

// Limits on account fields. A password is bounded in bytes, not characters, because
// its hashing cost grows with its bytes.
const (
	MinPasswordLen = 8   // characters
	MaxPasswordLen = 256 // bytes
	MaxEmailLen    = 254 // bytes (RFC 5321's path limit)
	MaxNameLen     = 100 // characters
)

// What is wrong with a signup field. ValidateSignup's error wraps one or more of them;
// their texts are the API's wording ("email must be ...").
var (
	ErrEmailTooLong   = fmt.Errorf("must be at most %d characters", MaxEmailLen)
	ErrEmailInvalid   = errors.New("must be a valid email address such as ada@example.com")
	ErrNameTooLong    = fmt.Errorf("must be at most %d characters", MaxNameLen)
	ErrNameControl    = errors.New("must not contain control characters")
	ErrPasswordLength = fmt.Errorf("must be %d to %d characters", MinPasswordLen, MaxPasswordLen)
)

// FieldError is one field's problem: Err is one of the Err* field errors above.
type FieldError struct {
	Field string // "email", "name" or "password"
	Err   error
}

func (e FieldError) Error() string { return e.Field + " " + e.Err.Error() }
func (e FieldError) Unwrap() error { return e.Err }

// SignupError lists every problem of a signup, in field order (email, name, password).
// errors.Is finds each field error through it.
type SignupError struct {
	Fields []FieldError
}

func (e *SignupError) Error() string {
	msgs := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		msgs[i] = f.Error()
	}
	return "invalid signup: " + strings.Join(msgs, "; ")
}

func (e *SignupError) Unwrap() []error {
	errs := make([]error, len(e.Fields))
	for i, f := range e.Fields {
		errs[i] = f
	}
	return errs
}

// ValidateEmail checks an email address, normalised (NormalizeEmail): ErrEmailTooLong
// or ErrEmailInvalid. A valid one is a bare address (no display name or angle
// brackets) whose domain has a dot.
func ValidateEmail(email string) error {
	if len(email) > MaxEmailLen {
		return ErrEmailTooLong
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || !strings.Contains(email[strings.LastIndexByte(email, '@')+1:], ".") {
		return ErrEmailInvalid
	}
	return nil
}

// ValidateSignup checks a signup before Signup: the email normalised (NormalizeEmail),
// a name of at most MaxNameLen characters and no control characters (it may be
// empty), a password of MinPasswordLen characters to MaxPasswordLen bytes. It returns
// nil or a *SignupError with every problem.
func ValidateSignup(email, name, password string) error {
	var fields []FieldError
	if err := ValidateEmail(email); err != nil {
		fields = append(fields, FieldError{"email", err})
	}
	if utf8.RuneCountInString(name) > MaxNameLen {
		fields = append(fields, FieldError{"name", ErrNameTooLong})
	} else if strings.ContainsFunc(name, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
		fields = append(fields, FieldError{"name", ErrNameControl})
	}
	if utf8.RuneCountInString(password) < MinPasswordLen || len(password) > MaxPasswordLen {
		fields = append(fields, FieldError{"password", ErrPasswordLength})
	}
	if len(fields) > 0 {
		return &SignupError{Fields: fields}
	}
	return nil
}

// ValidateLogin refuses, with ErrInvalidCredentials, a login that cannot be right: an
// empty email or password, or one longer than its limit. Such a login is answered like
// a wrong password, but before CheckLogin: it costs no hashing and no throttle budget.
func ValidateLogin(email, password string) error {
	if email == "" || password == "" || len(password) > MaxPasswordLen || len(email) > MaxEmailLen {
		return ErrInvalidCredentials
	}
	return nil
}

// Refusal is the service declining to check a password at all: past a failed-login
// limit (CheckLogin's *ThrottledError), or with every hashing slot busy (ErrBusy).
type Refusal struct {
	// Throttled is true past a failed-login limit, false when the server was busy.
	Throttled bool
	// RetryAfter is how long the client should wait, in whole seconds rounded up and
	// at least 1: the Retry-After header's value.
	RetryAfter int64
	// Err is the refusal itself (a *ThrottledError or ErrBusy), whose text an API
	// answer carries.
	Err error
}

// Status is the HTTP status a refusal is answered with: 429 Too Many Requests past a
// failed-login limit, 503 Service Unavailable when busy.
func (r Refusal) Status() int {
	if r.Throttled {
		return http.StatusTooManyRequests
	}
	return http.StatusServiceUnavailable
}

// Refused reports whether err (from Signup or CheckLogin) is a refusal to check a
// password, and which.
func Refused(err error) (Refusal, bool) {
	var te *ThrottledError
	switch {
	case errors.As(err, &te):
		return Refusal{Throttled: true, RetryAfter: max(int64((te.RetryAfter+time.Second-1)/time.Second), 1), Err: te}, true
	case errors.Is(err, ErrBusy):
		return Refusal{RetryAfter: 1, Err: ErrBusy}, true
	}
	return Refusal{}, false
}
