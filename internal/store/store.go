// Package store holds Vibe Coder's domain types and the storage interface that every
// database dialect (internal/store/sqlite, internal/store/postgres) implements.
//
// Tenant-scoped methods take the owner's user id explicitly: a row that belongs to
// another user is reported as ErrNotFound, never as a permission error, so callers
// cannot tell "someone else's" from "does not exist".
package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
)

// Errors every dialect translates its driver errors into. Callers never import a driver.
var (
	// ErrNotFound means the row does not exist or belongs to another tenant.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a uniqueness constraint was violated (a duplicate email, say).
	ErrConflict = errors.New("conflict")
	// ErrUnavailable means the database could not be reached or is not accepting work
	// right now (refused or lost connection, shutting down or starting up, too many
	// connections, a connect timeout, SQLite busy past its timeout): the request was
	// not wrong and may succeed if retried. The HTTP layer answers it with 503 and
	// Retry-After. The wrapped driver error stays in the chain for the logs.
	ErrUnavailable = errors.New("database unavailable")
)

// NewID returns a time-ordered (version 7) UUID. Lists are ordered by id, so the id
// doubles as the pagination cursor and as creation order.
func NewID() uuid.UUID { return uuid.Must(uuid.NewV7()) }

// Now is the store's notion of the current time: UTC, truncated to microseconds so
// that a value read back from either dialect equals the value written.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Page selects one page of a list ordered newest first. After is the id of the last
// row of the previous page (uuid.Nil for the first page).
type Page struct {
	After uuid.UUID
	Limit int
}

// MaxPageLimit bounds Page.Limit; DefaultPageLimit applies when Limit is zero.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 200
)

// Normalize returns the page with its limit clamped into [1, MaxPageLimit].
func (p Page) Normalize() Page {
	if p.Limit <= 0 {
		p.Limit = DefaultPageLimit
	}
	if p.Limit > MaxPageLimit {
		p.Limit = MaxPageLimit
	}
	return p
}

// User is an account. Email is stored lower-cased; PasswordHash is an argon2id PHC string.
type User struct {
	ID           uuid.UUID
	Email        string
	Name         string
	PasswordHash string
	IsAdmin      bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// APIKey is a long-lived credential. Only a SHA-256 hash of the secret is kept; Prefix
// (the first characters of the key) lets a user recognise it in a list.
type APIKey struct {
	ID         uuid.UUID
	UserID     uuid.UUID
	Name       string
	Prefix     string
	Hash       []byte
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// Session is a server-side browser session. The cookie carries a random token; only its
// SHA-256 hash is stored, so a database leak does not yield live sessions.
type Session struct {
	TokenHash  []byte
	UserID     uuid.UUID
	CSRFToken  string
	IP         string
	UserAgent  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// Index states of a project.
const (
	IndexNever   = "never"
	IndexQueued  = "queued"
	IndexRunning = "indexing"
	IndexReady   = "ready"
	IndexFailed  = "failed"
	// IndexCancelled: the last index job was cancelled; an earlier index (IndexedAt) is
	// still searchable.
	IndexCancelled = "cancelled"
)

// Project is a code repository registered by a user.
type Project struct {
	ID            uuid.UUID
	UserID        uuid.UUID
	Name          string
	Description   string
	RepoURL       string // a git URL or a local path
	DefaultBranch string
	TestCommand   string // empty: detected from the repository
	IndexStatus   string
	IndexedAt     *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Task states.
const (
	TaskOpen      = "open"
	TaskRunning   = "running"
	TaskDone      = "done"
	TaskFailed    = "failed"
	TaskCancelled = "cancelled"
)

// TaskStatuses lists every valid task status.
var TaskStatuses = []string{TaskOpen, TaskRunning, TaskDone, TaskFailed, TaskCancelled}

// Task is a unit of work on a project, written by its owner.
type Task struct {
	ID          uuid.UUID
	UserID      uuid.UUID
	ProjectID   uuid.UUID
	Title       string
	Description string
	Status      string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Agent roles.
const (
	RoleCoder    = "coder"
	RoleReviewer = "reviewer"
)

// AgentRoles lists every valid agent role.
var AgentRoles = []string{RoleCoder, RoleReviewer}

// Agent is a configured LLM persona: which model, which system prompt, which temperature.
type Agent struct {
	ID           uuid.UUID
	UserID       uuid.UUID
	Name         string
	Role         string
	Model        string
	SystemPrompt string
	Temperature  float64
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Execution states.
const (
	ExecQueued    = "queued"
	ExecRunning   = "running"
	ExecSucceeded = "succeeded"
	ExecFailed    = "failed"
	ExecCancelled = "cancelled"
)

// ExecutionStatuses lists every valid execution status.
var ExecutionStatuses = []string{ExecQueued, ExecRunning, ExecSucceeded, ExecFailed, ExecCancelled}

// Execution is one run of a task through the agent pipeline.
type Execution struct {
	ID         uuid.UUID
	UserID     uuid.UUID
	ProjectID  uuid.UUID
	TaskID     uuid.UUID
	Status     string
	Step       string
	Error      string
	TokensIn   int64
	TokensOut  int64
	CostUSD    float64
	StartedAt  *time.Time
	FinishedAt *time.Time
	// Details is a JSON object the pipeline maintains: diff, test runs, agents, PR.
	Details   json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Commit is a commit an execution produced, with the pull request opened for it.
type Commit struct {
	ID           uuid.UUID
	UserID       uuid.UUID
	ProjectID    uuid.UUID
	ExecutionID  uuid.UUID
	SHA          string
	Branch       string
	Message      string
	FilesChanged []string
	PRURL        string
	CreatedAt    time.Time
}

// Review verdicts.
const (
	VerdictApprove        = "approve"
	VerdictRequestChanges = "request_changes"
	VerdictComment        = "comment"
)

// ReviewComment is one remark of a review, anchored to a file and line.
type ReviewComment struct {
	Path string `json:"path"`
	Line int    `json:"line"`
	Body string `json:"body"`
}

// Review is the reviewer agent's verdict on an execution's diff.
type Review struct {
	ID          uuid.UUID
	UserID      uuid.UUID
	ProjectID   uuid.UUID
	ExecutionID uuid.UUID
	AgentID     *uuid.UUID
	Verdict     string
	Summary     string
	Comments    []ReviewComment
	CreatedAt   time.Time
}

// Accounts stores users, API keys and sessions. These lookups are not tenant-scoped:
// they are how a request finds out who its tenant is.
type Accounts interface {
	CreateUser(ctx context.Context, u *User) error // ErrConflict on a taken email
	GetUser(ctx context.Context, id uuid.UUID) (*User, error)
	GetUserByEmail(ctx context.Context, email string) (*User, error)

	CreateAPIKey(ctx context.Context, k *APIKey) error
	GetAPIKeyByHash(ctx context.Context, hash []byte) (*APIKey, error)
	ListAPIKeys(ctx context.Context, userID uuid.UUID, page Page) ([]APIKey, error)
	// RevokeAPIKey marks the key revoked; a key already revoked or another user's is ErrNotFound.
	RevokeAPIKey(ctx context.Context, userID, id uuid.UUID) error
	TouchAPIKey(ctx context.Context, id uuid.UUID, at time.Time) error

	CreateSession(ctx context.Context, s *Session) error
	// GetSession returns an unexpired session; an expired one is ErrNotFound.
	GetSession(ctx context.Context, tokenHash []byte, now time.Time) (*Session, error)
	TouchSession(ctx context.Context, tokenHash []byte, at time.Time) error
	DeleteSession(ctx context.Context, tokenHash []byte) error
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error)
}

// Projects stores projects. Every method is scoped to the owning user.
type Projects interface {
	CreateProject(ctx context.Context, p *Project) error
	GetProject(ctx context.Context, userID, id uuid.UUID) (*Project, error)
	ListProjects(ctx context.Context, userID uuid.UUID, page Page) ([]Project, error)
	UpdateProject(ctx context.Context, p *Project) error
	// DeleteProject removes the project and everything that belongs to it.
	DeleteProject(ctx context.Context, userID, id uuid.UUID) error
}

// Tasks stores tasks. CreateTask fails with ErrNotFound when the project is not the user's.
type Tasks interface {
	CreateTask(ctx context.Context, t *Task) error
	GetTask(ctx context.Context, userID, id uuid.UUID) (*Task, error)
	ListTasks(ctx context.Context, userID, projectID uuid.UUID, page Page) ([]Task, error)
	UpdateTask(ctx context.Context, t *Task) error
	DeleteTask(ctx context.Context, userID, id uuid.UUID) error
}

// Agents stores agent configurations.
type Agents interface {
	CreateAgent(ctx context.Context, a *Agent) error
	GetAgent(ctx context.Context, userID, id uuid.UUID) (*Agent, error)
	ListAgents(ctx context.Context, userID uuid.UUID, page Page) ([]Agent, error)
	UpdateAgent(ctx context.Context, a *Agent) error
	DeleteAgent(ctx context.Context, userID, id uuid.UUID) error
}

// Executions stores executions and what they produced (commits, reviews).
// CreateExecution fails with ErrNotFound when the task is not the user's; its
// ProjectID is taken from the task.
type Executions interface {
	CreateExecution(ctx context.Context, e *Execution) error
	GetExecution(ctx context.Context, userID, id uuid.UUID) (*Execution, error)
	// ListExecutions lists the user's executions, of one task when taskID is not uuid.Nil.
	ListExecutions(ctx context.Context, userID, taskID uuid.UUID, page Page) ([]Execution, error)
	UpdateExecution(ctx context.Context, e *Execution) error

	CreateCommit(ctx context.Context, c *Commit) error
	ListCommits(ctx context.Context, userID, executionID uuid.UUID, page Page) ([]Commit, error)
	CreateReview(ctx context.Context, r *Review) error
	ListReviews(ctx context.Context, userID, executionID uuid.UUID, page Page) ([]Review, error)
}

// Store is everything Vibe Coder keeps in its database.
type Store interface {
	Accounts
	Projects
	Tasks
	Agents
	Executions
	Usage
	Jobs
	Heartbeats
	UsageDays
	Chunks
	Audit

	// InTx runs fn in one write transaction as userID. Store calls made with the context
	// fn receives join the transaction, and so do the job queue's inserts and
	// completions (JobClient.InsertTx, CompleteTx): a job commits or rolls back together
	// with the rows it drives.
	InTx(ctx context.Context, userID uuid.UUID, fn func(ctx context.Context) error) error
	// Queue is the job queue on this database.
	Queue() JobQueue
	// Pools are the store's connection pools, for metrics.
	Pools() []Pool

	// Dialect names the database: "sqlite" or "postgres".
	Dialect() string
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Migrate applies pending migrations, the store's and the job queue's (River's),
	// each in its own transaction and all under one cross-process lock, so processes
	// starting together on an empty database each find it migrated; it returns how
	// many of the store's own migrations ran.
	Migrate(ctx context.Context) (int, error)
	// Close releases the database's connections.
	Close() error
}

// LLMUsage is one LLM call as accounted: one row per call, cache hits included.
type LLMUsage struct {
	ID               uuid.UUID
	UserID           uuid.UUID
	ProjectID        *uuid.UUID
	ExecutionID      *uuid.UUID
	Provider         string
	Model            string
	PromptTokens     int64
	CompletionTokens int64
	CachedTokens     int64
	CostUSD          float64 // what this call cost (0 for a cache hit)
	CostSavedUSD     float64 // what a cache hit would have cost upstream
	LatencyMS        int64
	CacheHit         bool
	Status           string // "ok" or an error type such as "rate_limited", "upstream_error"
	CreatedAt        time.Time
}

// UsageStats aggregates llm_usage rows of one provider/model.
type UsageStats struct {
	Provider          string
	Model             string
	Calls             int64
	Hits              int64
	Misses            int64
	PromptTokens      int64
	CompletionTokens  int64
	TokensSaved       int64 // prompt + completion tokens of cache hits
	CostUSD           float64
	CostSavedUSD      float64
	MeanHitLatencyMS  float64
	MeanMissLatencyMS float64
}

// UserLimits are a user's own LLM limits; a nil field means "use the server default".
type UserLimits struct {
	UserID            uuid.UUID
	RequestsPerMinute *int
	TokensPerMinute   *int
	MonthlyBudgetUSD  *float64
	UpdatedAt         time.Time
}

// ErrBudgetExceeded is returned by ReserveBudget when the reservation would take the
// period's spend plus outstanding reservations past the limit.
var ErrBudgetExceeded = errors.New("budget exceeded")

// Usage stores LLM accounting: usage rows, per-user limits and budget reservations.
type Usage interface {
	// InsertUsage writes usage rows (of any users) atomically: all or none.
	InsertUsage(ctx context.Context, rows []LLMUsage) error
	// UsageStats aggregates usage since the given time, per provider/model, of one
	// user, or of every user when userID is uuid.Nil (for administrators).
	UsageStats(ctx context.Context, userID uuid.UUID, since time.Time) ([]UsageStats, error)
	// MonthSpend is the user's cost_usd summed over usage rows since the given time.
	MonthSpend(ctx context.Context, userID uuid.UUID, since time.Time) (float64, error)

	GetUserLimits(ctx context.Context, userID uuid.UUID) (*UserLimits, error) // ErrNotFound when none set
	SetUserLimits(ctx context.Context, l *UserLimits) error

	// ReserveBudget atomically adds amount to the user's reservations for period
	// ("2006-01") if spent + reserved + amount <= limit, else returns ErrBudgetExceeded.
	// The check and the increment are one statement, so concurrent callers on any
	// number of processes can never overspend. The period's first reservation starts
	// spent at the cost of the user's usage rows of that month, so spend from before a
	// budget was set (or raised from none) counts against it.
	ReserveBudget(ctx context.Context, userID uuid.UUID, period string, limit, amount float64) error
	// SettleBudget releases a reservation and adds what the call really cost.
	SettleBudget(ctx context.Context, userID uuid.UUID, period string, reserved, actual float64) error
	// BudgetState returns spent and reserved for the period (zeros when nothing yet).
	BudgetState(ctx context.Context, userID uuid.UUID, period string) (spent, reserved float64, err error)
}

// JobRef ties a background job (a River job id) to the user and project it belongs to.
type JobRef struct {
	JobID       int64
	UserID      uuid.UUID
	ProjectID   uuid.UUID
	ExecutionID *uuid.UUID
	Kind        string
	CreatedAt   time.Time
}

// Event is one progress event of an execution or of a project's job.
type Event struct {
	ID          int64 // assigned by the database, increasing
	UserID      uuid.UUID
	ProjectID   uuid.UUID
	ExecutionID *uuid.UUID
	Type        string
	Data        json.RawMessage // a JSON object
	CreatedAt   time.Time
}

// EventFilter selects the events of one execution, or of one project when
// ExecutionID is uuid.Nil (then only events without an execution, such as indexing).
type EventFilter struct {
	ProjectID   uuid.UUID
	ExecutionID uuid.UUID
	AfterID     int64
	Limit       int
}

// Jobs stores the tenant side of background jobs and their events.
type Jobs interface {
	// CreateJobRef records a job's owner; call it in the job's InTx transaction.
	// ErrNotFound when the project (or execution) is not the user's.
	CreateJobRef(ctx context.Context, ref *JobRef) error
	GetJobRef(ctx context.Context, userID uuid.UUID, jobID int64) (*JobRef, error)
	// ListJobRefs lists a project's job refs, newest first; beforeJobID 0 starts at the newest.
	ListJobRefs(ctx context.Context, userID, projectID uuid.UUID, beforeJobID int64, limit int) ([]JobRef, error)

	// AppendEvent stores an event and sets its ID and CreatedAt.
	AppendEvent(ctx context.Context, ev *Event) error
	// ListEvents returns the user's events matching the filter with ID > AfterID, oldest first.
	ListEvents(ctx context.Context, userID uuid.UUID, f EventFilter) ([]Event, error)
}

// Chunk is one indexed piece of a project's file: a function, a type, a block of lines.
// SearchText is the code-aware keyword text (identifiers whole and split, lower-cased)
// the keyword index is built from.
type Chunk struct {
	ID          uuid.UUID
	UserID      uuid.UUID
	ProjectID   uuid.UUID
	Path        string
	Language    string
	StartLine   int
	EndLine     int
	Symbol      string
	Content     string
	ContentHash string // hex sha256 of Content
	SearchText  string
	CreatedAt   time.Time
}

// FileChunks is the new state of one file: its content hash and its chunks.
type FileChunks struct {
	Path   string
	Hash   string // hex sha256 of the file
	Chunks []Chunk
}

// ChunkHit is a chunk found by a search; a higher Score is a better match, comparable
// only within one result list.
type ChunkHit struct {
	Chunk
	Score float64
}

// ChunkOutline is where a chunk is and what it declares, without its text.
type ChunkOutline struct {
	ID        uuid.UUID
	Path      string
	StartLine int
	EndLine   int
	Symbol    string
}

// ChunkVector is a chunk's embedding.
type ChunkVector struct {
	ChunkID uuid.UUID
	Vector  []float32
}

// IndexState is a project's index bookkeeping. Generation grows with every change of
// the project's chunks or embeddings, so a cache of them can tell it is stale.
type IndexState struct {
	Generation     int64
	EmbeddingModel string
	EmbeddingDims  int
}

// Errors of the Chunks store.
var (
	// ErrDimensionMismatch means an embedding's length differs from the project's (or the
	// vector column's) dimension.
	ErrDimensionMismatch = errors.New("embedding dimension mismatch")
	// ErrNoVectorIndex means the database has no vector index (no pgvector): callers search
	// the vectors from ChunkVectors exactly instead.
	ErrNoVectorIndex = errors.New("no vector index in this database")
)

// Chunks stores a project's code index: chunks with their keyword index, the content
// hash of every indexed file, and embeddings. Every method is scoped to the owning user;
// another user's project is ErrNotFound (or simply empty, for reads).
type Chunks interface {
	// ReplaceFiles replaces, in one transaction, each file's chunks and records its hash.
	// A new chunk whose ContentHash equals one of the file's old chunks keeps that
	// chunk's embedding.
	ReplaceFiles(ctx context.Context, userID, projectID uuid.UUID, files []FileChunks) error
	// DeleteFiles removes the files' chunks and hashes.
	DeleteFiles(ctx context.Context, userID, projectID uuid.UUID, paths []string) error
	// FileHashes returns path → content hash of every indexed file of the project.
	FileHashes(ctx context.Context, userID, projectID uuid.UUID) (map[string]string, error)
	// KeywordSearch ranks the project's chunks whose search text matches every group of
	// terms, a group matching when the text holds any of its terms (one group: any term
	// at all), best first (SQLite FTS5 bm25, PostgreSQL ts_rank). Terms are lower-case
	// words; characters other than letters, digits and '_' are dropped, and so are groups
	// left empty.
	KeywordSearch(ctx context.Context, userID, projectID uuid.UUID, groups [][]string, limit int) ([]ChunkHit, error)
	// KeywordAll returns the project's chunks whose search text matches every group, as
	// KeywordSearch, but unranked, in no order, at most limit: for a caller that knows
	// from KeywordStats that no more match and ranks them itself (the database's rank
	// costs most of a search: FTS5's bm25 counts every term's matches, ts_rank reads
	// every match's vector).
	KeywordAll(ctx context.Context, userID, projectID uuid.UUID, groups [][]string, limit int) ([]Chunk, error)
	// KeywordMatches returns, for each of terms, the ids of the project's chunks whose
	// search text holds it, in no order: what a caller ranks alike on every dialect.
	// Terms are cleaned as KeywordSearch cleans them; a term left empty matches nothing.
	KeywordMatches(ctx context.Context, userID, projectID uuid.UUID, terms []string) ([][]uuid.UUID, error)
	// ChunkOutlines returns every chunk of the project without its text: its id, path,
	// lines and symbol, in no order.
	ChunkOutlines(ctx context.Context, userID, projectID uuid.UUID) ([]ChunkOutline, error)
	// KeywordStats returns the project's keyword statistics for BM25: how many chunks
	// are counted, their tokens per field, and how many of them hold each of terms
	// (terms as KeywordSearch cleans them; a term no chunk holds is absent or 0). Only
	// chunks whose SearchText has fields are counted (see SearchTextStats).
	KeywordStats(ctx context.Context, userID, projectID uuid.UUID, terms []string) (KeywordStats, error)
	// ChunksOfFiles returns the chunks of the project's files at paths, by path and line.
	ChunksOfFiles(ctx context.Context, userID, projectID uuid.UUID, paths []string) ([]Chunk, error)
	// PackageDocChunks returns the project's chunks that hold a package clause and open
	// with a comment (a Go file's package doc or its own comment above the clause):
	// Symbol "package <name>" and Content starting with "//" or "/*", by path and line.
	PackageDocChunks(ctx context.Context, userID, projectID uuid.UUID) ([]Chunk, error)
	// GetChunks returns the project's chunks with the given ids (missing ids are skipped).
	GetChunks(ctx context.Context, userID, projectID uuid.UUID, ids []uuid.UUID) ([]Chunk, error)
	// ChunksToEmbed returns up to limit of the project's chunks that have no embedding.
	ChunksToEmbed(ctx context.Context, userID, projectID uuid.UUID, limit int) ([]Chunk, error)
	// SetEmbeddings stores embeddings made with model. The first one fixes the project's
	// dimension; a vector of another length is ErrDimensionMismatch, and so is a model
	// other than the project's (ResetEmbeddings first).
	SetEmbeddings(ctx context.Context, userID, projectID uuid.UUID, model string, vecs []ChunkVector) error
	// ResetEmbeddings drops every embedding of the project and forgets its model and dimension.
	ResetEmbeddings(ctx context.Context, userID, projectID uuid.UUID) error
	// ChunkVectors returns every embedding of the project, for exact search.
	ChunkVectors(ctx context.Context, userID, projectID uuid.UUID) ([]ChunkVector, error)
	// NearestChunks returns the chunks nearest to vec by cosine distance through the
	// database's vector index (Score = cosine similarity), or ErrNoVectorIndex.
	NearestChunks(ctx context.Context, userID, projectID uuid.UUID, vec []float32, limit int) ([]ChunkHit, error)
	// IndexState returns the project's index state (zero values when never indexed).
	IndexState(ctx context.Context, userID, projectID uuid.UUID) (IndexState, error)
	// VectorIndex reports whether NearestChunks is served by a vector index (pgvector).
	VectorIndex() bool
	// OptimizeChunks tidies the keyword index after a bulk change (SQLite merges the FTS5
	// segments that many small transactions leave; PostgreSQL refreshes the planner's
	// statistics), so searches stay fast. It is an optimisation: searches are correct
	// without it.
	OptimizeChunks(ctx context.Context) error
}

// EncodeVector encodes an embedding as little-endian float32s, the form both dialects
// store it in (SQLite BLOB, PostgreSQL bytea).
func EncodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// DecodeVector is the inverse of EncodeVector.
func DecodeVector(b []byte) ([]float32, error) {
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("stored vector has %d bytes, not a multiple of 4", len(b))
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}

// TermQuery writes KeywordSearch's groups in a dialect's full-text query syntax:
// each group's cleaned terms (CleanTerms) quoted and joined by or, the groups in
// parentheses joined by and; a group with no term left is skipped, and "" means none
// is left.
func TermQuery(groups [][]string, quote, or, and string) string {
	var ands []string
	for _, g := range groups {
		terms := CleanTerms(g)
		if len(terms) == 0 {
			continue
		}
		for i, t := range terms {
			terms[i] = quote + t + quote
		}
		ands = append(ands, "("+strings.Join(terms, or)+")")
	}
	return strings.Join(ands, and)
}

// CleanTerms prepares keyword-search terms for a dialect's query syntax: it keeps only
// letters, digits and '_' of each term, lower-cases it, and drops empty and repeated
// terms, so no term can carry query syntax.
func CleanTerms(terms []string) []string {
	seen := make(map[string]bool, len(terms))
	out := make([]string, 0, len(terms))
	for _, t := range terms {
		t = strings.Map(func(r rune) rune {
			if r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) {
				return unicode.ToLower(r)
			}
			return -1
		}, t)
		if t != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// Outcomes of an audited action.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure" // the action was attempted and failed (a wrong password, say)
	OutcomeDenied  = "denied"  // a policy refused it (a limit, another tenant's resource)
)

// AuditEntry is one row of the append-only audit trail: who did what to which
// resource, with what outcome, from where. Entries are never updated or deleted; both
// dialects refuse it with triggers.
type AuditEntry struct {
	ID        uuid.UUID // time-ordered; set by AppendAudit when nil
	CreatedAt time.Time // set by AppendAudit when zero
	// ActorID is the user who acted; nil for an anonymous actor (a failed login for an
	// unknown email, the operator at the command line).
	ActorID    *uuid.UUID
	Action     string // a dotted name such as "user.login"; see package audit
	TargetType string // what the action was on: "project", "apikey", "user", ...
	TargetID   string
	Outcome    string // OutcomeSuccess (the default), OutcomeFailure or OutcomeDenied
	IP         string
	UserAgent  string
	RequestID  string
	Metadata   json.RawMessage // a JSON object ({} when empty)
}

// Limits on an audit entry's fields, so that a caller cannot grow the trail without bound.
const (
	MaxAuditActionLen   = 64
	MaxAuditFieldLen    = 512 // target type and id, IP, user agent, request id
	MaxAuditMetadataLen = 16 << 10
)

// PrepareAudit fills an entry's defaults (id, time, outcome, metadata) in place and
// validates it. Both dialects call it in AppendAudit.
func PrepareAudit(e *AuditEntry) error {
	Sanitize(e)
	if e.ID == uuid.Nil {
		e.ID = NewID()
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = Now()
	}
	e.CreatedAt = e.CreatedAt.UTC().Truncate(time.Microsecond)
	if e.ActorID != nil && *e.ActorID == uuid.Nil {
		e.ActorID = nil
	}
	if e.Outcome == "" {
		e.Outcome = OutcomeSuccess
	}
	if len(e.Metadata) == 0 || string(e.Metadata) == "null" {
		e.Metadata = json.RawMessage(`{}`)
	}
	switch {
	case e.Action == "" || len(e.Action) > MaxAuditActionLen:
		return fmt.Errorf("audit action must be 1 to %d bytes", MaxAuditActionLen)
	case e.Outcome != OutcomeSuccess && e.Outcome != OutcomeFailure && e.Outcome != OutcomeDenied:
		return fmt.Errorf("audit outcome %q is not success, failure or denied", e.Outcome)
	case len(e.TargetType) > MaxAuditFieldLen || len(e.TargetID) > MaxAuditFieldLen || len(e.IP) > MaxAuditFieldLen ||
		len(e.UserAgent) > MaxAuditFieldLen || len(e.RequestID) > MaxAuditFieldLen:
		return fmt.Errorf("audit entry field longer than %d bytes", MaxAuditFieldLen)
	case len(e.Metadata) > MaxAuditMetadataLen:
		return fmt.Errorf("audit metadata longer than %d bytes", MaxAuditMetadataLen)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(e.Metadata, &obj); err != nil || obj == nil {
		return errors.New("audit metadata must be a JSON object")
	}
	return nil
}

// AuditFilter selects audit entries, newest first.
type AuditFilter struct {
	// ActorID selects one user's entries; uuid.Nil selects every entry, anonymous ones
	// included — an administrator's view, which callers must gate.
	ActorID uuid.UUID
	// Actions keeps entries with any of these actions; empty keeps all.
	Actions []string
	// ExcludeActions drops entries with any of these actions.
	ExcludeActions []string
	// Since (inclusive) and Until (exclusive) bound CreatedAt; zero is unbounded.
	Since, Until time.Time
	// Before is the pagination cursor: the id of the last entry of the previous page
	// (uuid.Nil for the first page).
	Before uuid.UUID
	// Limit is clamped like Page.Limit.
	Limit int
}

// Kinds of tenant resource ResourceOwner knows. A job's id is its decimal job id;
// the others' are UUIDs.
const (
	ResourceProject   = "project"
	ResourceTask      = "task"
	ResourceAgent     = "agent"
	ResourceExecution = "execution"
	ResourceJob       = "job"
)

// Audit stores the audit trail.
type Audit interface {
	// AppendAudit writes an entry after PrepareAudit. It joins the transaction of an
	// InTx context (on PostgreSQL only when the actor is that transaction's user or
	// anonymous), so an entry written there commits or rolls back with what it records.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// ListAudit returns the entries matching the filter, newest (highest id) first.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
	// ResourceOwner reports who owns a resource of the given kind, across tenants:
	// found is false when no such row exists (or the id is malformed). It exists only so
	// that the audit trail can tell an attempt on another tenant's row from a miss; it
	// must never decide what a request is answered. An unknown kind is an error.
	ResourceOwner(ctx context.Context, kind, id string) (owner uuid.UUID, found bool, err error)
}

// Heartbeats records which processes work background jobs.
type Heartbeats interface {
	// Heartbeat says processID (working jobs since startedAt) is alive at now.
	Heartbeat(ctx context.Context, processID string, startedAt, now time.Time) error
	// LiveWorkers counts processes heard from since the given time.
	LiveWorkers(ctx context.Context, since time.Time) (int, error)
}

// DailyUsage is one user's LLM usage on one UTC day.
type DailyUsage struct {
	Day          string // YYYY-MM-DD
	Calls        int64
	Hits         int64
	Tokens       int64 // prompt + completion
	CostUSD      float64
	CostSavedUSD float64
}

// UsageDays reports a user's usage per UTC day since the given time, oldest first.
type UsageDays interface {
	UsageByDay(ctx context.Context, userID uuid.UUID, since time.Time) ([]DailyUsage, error)
}

// BudgetPeriod checks a budget period ("2006-01") and amounts of money before they
// reach the database (a negative reservation would release budget) and returns the
// period's bounds in UTC: its first instant and the next period's.
func BudgetPeriod(period string, amounts ...float64) (from, to time.Time, err error) {
	from, err = time.Parse("2006-01", period)
	if err != nil || len(period) != 7 {
		return time.Time{}, time.Time{}, fmt.Errorf("period %q is not YYYY-MM", period)
	}
	for _, a := range amounts {
		if a < 0 || math.IsNaN(a) || math.IsInf(a, 0) {
			return time.Time{}, time.Time{}, fmt.Errorf("amount %v is not a finite, non-negative number", a)
		}
	}
	return from, from.AddDate(0, 1, 0), nil
}
