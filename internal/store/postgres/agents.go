package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/vibecoder/vibecoder/internal/store"
)

const agentCols = "id, user_id, name, role, model, system_prompt, temperature, created_at, updated_at"

func scanAgent(r pgx.Row) (*store.Agent, error) {
	var a store.Agent
	if err := r.Scan(&a.ID, &a.UserID, &a.Name, &a.Role, &a.Model, &a.SystemPrompt, &a.Temperature,
		&a.CreatedAt, &a.UpdatedAt); err != nil {
		return nil, translate(err)
	}
	return &a, nil
}

// CreateAgent implements store.Agents.
func (s *Store) CreateAgent(ctx context.Context, a *store.Agent) error {
	a.Prepare()
	err := s.tenantTx(ctx, a.UserID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO agents ("+agentCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
			a.ID, a.UserID, a.Name, a.Role, a.Model, a.SystemPrompt, a.Temperature, a.CreatedAt, a.UpdatedAt)
		return err
	})
	if err != nil {
		return fmt.Errorf("create agent: %w", translate(err))
	}
	return nil
}

// GetAgent implements store.Agents.
func (s *Store) GetAgent(ctx context.Context, userID, id uuid.UUID) (*store.Agent, error) {
	var a *store.Agent
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		var err error
		a, err = scanAgent(tx.QueryRow(ctx, "SELECT "+agentCols+" FROM agents WHERE id = $1 AND user_id = $2", id, userID))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get agent %s: %w", id, translate(err))
	}
	return a, nil
}

// ListAgents implements store.Agents.
func (s *Store) ListAgents(ctx context.Context, userID uuid.UUID, page store.Page) ([]store.Agent, error) {
	after, limit := pageCursor(page)
	var out []store.Agent
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT "+agentCols+" FROM agents WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
			userID, after, limit)
		if err != nil {
			return err
		}
		out, err = collect(rows, scanAgent)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", translate(err))
	}
	return out, nil
}

// UpdateAgent implements store.Agents: it writes every mutable field and sets
// UpdatedAt, and CreatedAt from the stored row.
func (s *Store) UpdateAgent(ctx context.Context, a *store.Agent) error {
	now := store.Now()
	err := s.tenantTx(ctx, a.UserID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `UPDATE agents SET name = $3, role = $4, model = $5, system_prompt = $6,
			temperature = $7, updated_at = $8 WHERE id = $1 AND user_id = $2 RETURNING created_at`,
			a.ID, a.UserID, a.Name, a.Role, a.Model, a.SystemPrompt, a.Temperature, now).Scan(&a.CreatedAt)
	})
	if err != nil {
		return fmt.Errorf("update agent %s: %w", a.ID, translate(err))
	}
	a.UpdatedAt = now
	return nil
}

// DeleteAgent implements store.Agents. Reviews the agent wrote keep their verdicts and
// lose the reference.
func (s *Store) DeleteAgent(ctx context.Context, userID, id uuid.UUID) error {
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM agents WHERE id = $1 AND user_id = $2", id, userID)
		return affected(tag.RowsAffected(), err)
	})
	if err != nil {
		return fmt.Errorf("delete agent %s: %w", id, translate(err))
	}
	return nil
}
