package httpapi

import (
	"context"
)

type categoriesOutput struct {
	Body struct {
		Categories []string `json:"categories" doc:"The configured report/case taxonomy (REGCASE_CATEGORIES or the built-in list), in configured order; the public report form offers exactly these."`
	}
}

// listCategories serves list-categories.
func (s *server) listCategories(ctx context.Context, _ *struct{}) (*categoriesOutput, error) {
	out := &categoriesOutput{}
	out.Body.Categories = s.svc.Categories()
	return out, nil
}
