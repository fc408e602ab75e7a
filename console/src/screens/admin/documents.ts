// What the Admin page asks for: the tenant's API tokens, this month's usage against its limits,
// the job types' Sync Sizes, and the mutations that change them.
import { graphql } from "../../graphql";

export const TokenFields = graphql(`
  fragment TokenFields on ApiToken {
    id
    name
    role
    prefix
    createdAt
    lastUsedAt
    revokedAt
  }
`);

export const TokensQuery = graphql(
  `
    query ApiTokens($first: Int!, $after: String) {
      apiTokens(first: $first, after: $after) {
        totalCount
        edges {
          node {
            ...TokenFields
          }
        }
        pageInfo {
          hasNextPage
          endCursor
        }
      }
    }
  `,
  [TokenFields],
);

export const UsageFields = graphql(`
  fragment UsageFields on PlanUsage {
    month
    jobsUsed
    jobsLimit
    recordsUsed
    recordsReserved
    recordsLimit
  }
`);

export const SyncSizeFields = graphql(`
  fragment SyncSizeFields on JobType {
    name
    label
    system
    defaultChunkSize
    allowedChunkSizes
    syncSize
  }
`);

export const PlanQuery = graphql(
  `
    query Plan {
      usage {
        ...UsageFields
      }
      jobTypes {
        ...SyncSizeFields
      }
    }
  `,
  [UsageFields, SyncSizeFields],
);

export const CreateApiToken = graphql(
  `
    mutation CreateApiToken($input: CreateApiTokenInput!) {
      result: createApiToken(input: $input) {
        __typename
        ... on ApiTokenCreated {
          token
          apiToken {
            ...TokenFields
          }
        }
        ... on InvalidInputError {
          field
        }
        ... on Error {
          code
          message
        }
      }
    }
  `,
  [TokenFields],
);

export const RevokeApiToken = graphql(
  `
    mutation RevokeApiToken($id: ID!) {
      result: revokeApiToken(id: $id) {
        __typename
        ... on ApiTokenRevoked {
          apiToken {
            ...TokenFields
          }
        }
        ... on Error {
          code
          message
        }
      }
    }
  `,
  [TokenFields],
);

export const SetTenantLimits = graphql(
  `
    mutation SetTenantLimits($input: SetTenantLimitsInput!) {
      result: setTenantLimits(input: $input) {
        __typename
        ... on TenantLimitsSet {
          usage {
            ...UsageFields
          }
        }
        ... on InvalidInputError {
          field
        }
        ... on Error {
          code
          message
        }
      }
    }
  `,
  [UsageFields],
);

export const SetSyncSize = graphql(`
  mutation SetSyncSize($jobType: String!, $chunkSize: Int) {
    result: setSyncSize(jobType: $jobType, chunkSize: $chunkSize) {
      __typename
      ... on SyncSizeSet {
        jobType
        chunkSize
      }
      ... on InvalidInputError {
        field
      }
      ... on Error {
        code
        message
      }
    }
  }
`);
