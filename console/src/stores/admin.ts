// The Admin page's state: the tenant's API tokens, this month's usage against its limits and
// the job types' Sync Sizes, and the verbs that change them. A new token's secret is handed to
// the caller once and never kept here.
import { batch, computed, effect, signal, untracked } from "@preact/signals";
import type { ResultOf } from "../graphql";
import {
  CreateApiToken,
  PlanQuery,
  RevokeApiToken,
  SetSyncSize,
  SetTenantLimits,
  TokensQuery,
  type SyncSizeFields,
  type TokenFields,
  type UsageFields,
} from "../screens/admin/documents";
import { ApiError, request } from "../services/connection";
import { needsRole } from "../utilities/actions";
import type { Role } from "../utilities/statuses";
import { fieldMessage, refusal } from "./actions";
import type { LoadState } from "./jobs";
import { route } from "./route";
import { sessionState, viewer } from "./session";

const TOKENS_PAGE = 50;

export type ApiToken = ResultOf<typeof TokenFields>;
export type Usage = ResultOf<typeof UsageFields>;
export type SyncSizeType = ResultOf<typeof SyncSizeFields>;

/** Whether the signed-in principal may manage the tenant, and if not, why. */
export const adminAccess = computed(() => needsRole("ADMIN", viewer.value?.role));

export const tokens = signal<ApiToken[]>([]);
export const tokensTotal = signal(0);
export const moreTokens = signal<string | null>(null);
export const usage = signal<Usage | null>(null);
export const syncTypes = signal<SyncSizeType[]>([]);
export const adminState = signal<LoadState>("loading");
export const adminError = signal<string | null>(null);

const onAdmin = computed(() => route.value.path === "/admin");

let generation = 0;

function failure(error: unknown): string {
  return error instanceof ApiError ? refusal(error.code, error.message) : String(error);
}

/** The header's Refresh: tokens, usage and Sync Sizes again from the server. */
export async function refreshAdmin(): Promise<void> {
  const current = ++generation;
  if (!usage.value) adminState.value = "loading";
  try {
    const [plan, listed] = await Promise.all([
      request(PlanQuery, {}),
      request(TokensQuery, { first: TOKENS_PAGE, after: null }),
    ]);
    if (current !== generation) return;
    batch(() => {
      usage.value = plan.usage;
      syncTypes.value = plan.jobTypes;
      tokens.value = listed.apiTokens.edges.map((edge) => edge.node);
      tokensTotal.value = listed.apiTokens.totalCount;
      moreTokens.value = listed.apiTokens.pageInfo.hasNextPage ? listed.apiTokens.pageInfo.endCursor : null;
      adminError.value = null;
      adminState.value = "ready";
    });
  } catch (error) {
    if (current !== generation) return;
    adminError.value = error instanceof ApiError ? error.message : String(error);
    adminState.value = "error";
  }
}

export async function loadMoreTokens(): Promise<void> {
  const after = moreTokens.value;
  if (!after) return;
  const current = generation;
  const { apiTokens } = await request(TokensQuery, { first: TOKENS_PAGE, after });
  if (current !== generation) return;
  const known = new Set(tokens.value.map((token) => token.id));
  batch(() => {
    tokens.value = [...tokens.value, ...apiTokens.edges.map((edge) => edge.node).filter((node) => !known.has(node.id))];
    moreTokens.value = apiTokens.pageInfo.hasNextPage ? apiTokens.pageInfo.endCursor : null;
  });
}

function replaced(token: ApiToken): void {
  tokens.value = tokens.value.map((shown) => (shown.id === token.id ? token : shown));
}

/** A refusal about one field of a form (`field`), or about the request as a whole (null). */
export type Refused = { field: string | null; error: string };

/** The new token's secret (for the caller to show once), or the refusal. */
export async function createToken(name: string, role: Role): Promise<{ secret: string } | Refused> {
  try {
    const { result } = await request(CreateApiToken, { input: { name, role } });
    if (result.__typename === "ApiTokenCreated" && "token" in result) {
      batch(() => {
        tokens.value = [result.apiToken, ...tokens.value];
        tokensTotal.value += 1;
      });
      return { secret: result.token };
    }
    if (!("code" in result)) return { field: null, error: "The server refused." };
    return "field" in result
      ? { field: result.field, error: fieldMessage(result.field, result.message) }
      : { field: null, error: refusal(result.code, result.message) };
  } catch (error) {
    return { field: null, error: failure(error) };
  }
}

/** Null when revoked, else the refusal in words. */
export async function revokeToken(id: string): Promise<string | null> {
  try {
    const { result } = await request(RevokeApiToken, { id });
    if (result.__typename === "ApiTokenRevoked" && "apiToken" in result) {
      replaced(result.apiToken);
      return null;
    }
    return "code" in result ? refusal(result.code, result.message) : "The server refused.";
  } catch (error) {
    return failure(error);
  }
}

/** Both monthly limits at once; null removes one. Null when saved, else the refusal. */
export async function setLimits(monthlyJobs: number | null, monthlyRecords: number | null): Promise<Refused | null> {
  try {
    const { result } = await request(SetTenantLimits, { input: { monthlyJobs, monthlyRecords } });
    if (result.__typename === "TenantLimitsSet" && "usage" in result) {
      usage.value = result.usage;
      return null;
    }
    if (!("code" in result)) return { field: null, error: "The server refused." };
    return "field" in result
      ? { field: result.field, error: fieldMessage(result.field, result.message) }
      : { field: null, error: refusal(result.code, result.message) };
  } catch (error) {
    return { field: null, error: failure(error) };
  }
}

/** The type's Sync Size; null goes back to its default. Null when saved, else the refusal. */
export async function setSyncSize(jobType: string, chunkSize: number | null): Promise<string | null> {
  try {
    const { result } = await request(SetSyncSize, { jobType, chunkSize });
    if (result.__typename === "SyncSizeSet" && "chunkSize" in result) {
      syncTypes.value = syncTypes.value.map((type) =>
        type.name === result.jobType ? { ...type, syncSize: result.chunkSize } : type,
      );
      return null;
    }
    return "code" in result ? refusal(result.code, result.message) : "The server refused.";
  } catch (error) {
    return failure(error);
  }
}

// Signed out, the tenant's tokens and plan are forgotten: the next sign-in may be another's.
effect(() => {
  if (sessionState.value === "signed-in") return;
  generation += 1;
  batch(() => {
    tokens.value = [];
    tokensTotal.value = 0;
    moreTokens.value = null;
    usage.value = null;
    syncTypes.value = [];
    adminState.value = "loading";
  });
});

effect(() => {
  if (sessionState.value !== "signed-in" || !onAdmin.value || !adminAccess.value.enabled) return;
  untracked(() => void refreshAdmin());
});
