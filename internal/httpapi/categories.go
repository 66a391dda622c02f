package httpapi

import (
	"context"
	"net/http"
	"slices"

	"github.com/danielgtaylor/huma/v2"
)

type categoriesOutput struct {
	Body struct {
		Categories []string `json:"categories" doc:"The configured report/case taxonomy (REGCASE_CATEGORIES or the built-in list), in configured order; the public report form offers exactly these."`
	}
}

func (s *server) registerCategories() {
	op := s.op("list-categories", http.MethodGet, "/v1/categories", "The category taxonomy (public)", "reports")
	op.Security = nil
	op.Errors = nil
	huma.Register(s.api, op, func(ctx context.Context, _ *struct{}) (*categoriesOutput, error) {
		out := &categoriesOutput{}
		out.Body.Categories = slices.Clone(s.svc.Categories)
		return out, nil
	})
}
