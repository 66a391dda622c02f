// Package regcase holds the domain of the Regulatory Case API Platform:
// reports, cases, the lifecycle state machine, roles and the authorization
// matrix, the audit record, and the small interfaces the domain needs from
// its adapters. It imports no adapter.
package regcase
