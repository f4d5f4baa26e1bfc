package sqlite

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/store"
)

const agentCols = "id, user_id, name, role, model, system_prompt, temperature, created_at, updated_at"

func scanAgent(r scanner) (*store.Agent, error) {
	var a store.Agent
	var created, updated string
	if err := r.Scan(&a.ID, &a.UserID, &a.Name, &a.Role, &a.Model, &a.SystemPrompt, &a.Temperature, &created, &updated); err != nil {
		return nil, translate(err)
	}
	var err error
	if a.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if a.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, err
	}
	return &a, nil
}

// CreateAgent implements store.Agents.
func (s *Store) CreateAgent(ctx context.Context, a *store.Agent) error {
	a.Prepare()
	_, err := s.w(ctx).ExecContext(ctx, "INSERT INTO agents ("+agentCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		a.ID.String(), a.UserID.String(), a.Name, a.Role, a.Model, a.SystemPrompt, a.Temperature,
		fmtTime(a.CreatedAt), fmtTime(a.UpdatedAt))
	if err != nil {
		return fmt.Errorf("create agent: %w", translate(err))
	}
	return nil
}

// GetAgent implements store.Agents.
func (s *Store) GetAgent(ctx context.Context, userID, id uuid.UUID) (*store.Agent, error) {
	a, err := scanAgent(s.r(ctx).QueryRowContext(ctx, "SELECT "+agentCols+" FROM agents WHERE id = ? AND user_id = ?",
		id.String(), userID.String()))
	if err != nil {
		return nil, fmt.Errorf("get agent %s: %w", id, err)
	}
	return a, nil
}

// ListAgents implements store.Agents.
func (s *Store) ListAgents(ctx context.Context, userID uuid.UUID, page store.Page) ([]store.Agent, error) {
	clause, args := pageClause(page)
	rows, err := s.r(ctx).QueryContext(ctx, "SELECT "+agentCols+" FROM agents WHERE user_id = ?"+clause,
		append([]any{userID.String()}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	return collect(rows, scanAgent)
}

// UpdateAgent implements store.Agents.
func (s *Store) UpdateAgent(ctx context.Context, a *store.Agent) error {
	a.UpdatedAt = store.Now()
	err := mustAffect(s.w(ctx).ExecContext(ctx, `UPDATE agents SET name = ?, role = ?, model = ?, system_prompt = ?,
		temperature = ?, updated_at = ? WHERE id = ? AND user_id = ?`,
		a.Name, a.Role, a.Model, a.SystemPrompt, a.Temperature, fmtTime(a.UpdatedAt), a.ID.String(), a.UserID.String()))
	if err != nil {
		return fmt.Errorf("update agent %s: %w", a.ID, err)
	}
	return nil
}

// DeleteAgent implements store.Agents.
func (s *Store) DeleteAgent(ctx context.Context, userID, id uuid.UUID) error {
	err := mustAffect(s.w(ctx).ExecContext(ctx, "DELETE FROM agents WHERE id = ? AND user_id = ?", id.String(), userID.String()))
	if err != nil {
		return fmt.Errorf("delete agent %s: %w", id, err)
	}
	return nil
}
