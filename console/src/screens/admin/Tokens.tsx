// The tenant's API tokens: a new one (its secret shown this once), the list with what each may
// do and when it was last used, and revoking one (asked first).
import { useState } from "preact/hooks";
import { ActionButton } from "../../components/ActionButton";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { Field } from "../../components/Field";
import { StatusLabel } from "../../components/StatusLabel";
import { token as signedInToken } from "../../services/connection";
import {
  createToken,
  loadMoreTokens,
  moreTokens,
  revokeToken,
  tokens,
  tokensTotal,
  type ApiToken,
} from "../../stores/admin";
import { viewer } from "../../stores/session";
import { grantableRoles, needsRole, type Availability } from "../../utilities/actions";
import { formatMoment } from "../../utilities/format";
import { TOKEN_STATES, type Role } from "../../utilities/statuses";

type Created = { name: string; secret: string };

export function Tokens() {
  const [created, setCreated] = useState<Created | null>(null);
  const listed = tokens.value;
  return (
    <section class="card" aria-labelledby="tokens-title">
      <div class="card-head">
        <h2 id="tokens-title">API tokens</h2>
        <span class="count">{tokensTotal.value} in all, revoked ones too</span>
      </div>
      <NewToken onCreated={setCreated} />
      {created && <Secret created={created} onDone={() => setCreated(null)} />}
      <div class="table-wide">
        <table class="admin-table token-table" aria-labelledby="tokens-title">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">Prefix</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">State</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {listed.map((token) => (
              <TokenRow key={token.id} token={token} />
            ))}
          </tbody>
        </table>
      </div>
      {moreTokens.value && (
        <button type="button" class="more" onClick={() => void loadMoreTokens()}>
          Show more tokens
        </button>
      )}
    </section>
  );
}

function NewToken({ onCreated }: { onCreated: (created: Created) => void }) {
  const roles = grantableRoles(viewer.value?.role);
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>(roles.includes("OPERATOR") ? "OPERATOR" : roles[0]!);
  const [nameError, setNameError] = useState<string | null>(null);
  const [refused, setRefused] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    const outcome = await createToken(name, role);
    setBusy(false);
    if ("secret" in outcome) {
      onCreated({ name: name.trim(), secret: outcome.secret });
      setName("");
      setNameError(null);
      setRefused(null);
      return;
    }
    setNameError(outcome.field === "name" ? outcome.error : null);
    setRefused(outcome.field === "name" ? null : outcome.error);
    if (outcome.field === "name") document.getElementById("token-name")?.focus();
  }

  return (
    <form class="inline-form" aria-label="New API token" onSubmit={submit} noValidate>
      <Field id="token-name" label="Token name" error={nameError} hint="Who or what will use it, e.g. “CRM sync bot”.">
        {(control) => (
          <input {...control} value={name} maxLength={200} onInput={(event) => setName(event.currentTarget.value)} />
        )}
      </Field>
      <Field id="token-role" label="Role" hint="At most your own role.">
        {(control) => (
          <select {...control} value={role} onChange={(event) => setRole(event.currentTarget.value as Role)}>
            {roles.map((candidate) => (
              <option key={candidate} value={candidate}>
                {candidate}
              </option>
            ))}
          </select>
        )}
      </Field>
      <button type="submit" class="primary" aria-busy={busy || undefined} disabled={busy}>
        Create token
      </button>
      {refused && (
        <p class="notice notice-danger" role="alert">
          {refused}
        </p>
      )}
    </form>
  );
}

/** The new token's secret, this once: copy it, then it is gone from the page too. */
function Secret({ created, onDone }: { created: Created; onDone: () => void }) {
  const [copied, setCopied] = useState<string | null>(null);

  async function copy() {
    try {
      await navigator.clipboard.writeText(created.secret);
      setCopied("Copied to the clipboard.");
    } catch {
      setCopied("The browser refused the clipboard: select the token and copy it.");
    }
  }

  return (
    <section class="secret" aria-labelledby="secret-title">
      <h3 id="secret-title">New token “{created.name}”</h3>
      <p class="secret-warning" role="alert">
        Copy it now: it is shown this once and can't be shown again. Only its hash is stored.
      </p>
      <div class="secret-row">
        <input
          class="code"
          readOnly
          value={created.secret}
          aria-label="New token secret"
          spellcheck={false}
          onFocus={(event) => event.currentTarget.select()}
        />
        <button type="button" class="primary" onClick={() => void copy()}>
          Copy
        </button>
        <button type="button" onClick={onDone}>
          Done
        </button>
      </div>
      <p class="action-said" role="status">
        {copied}
      </p>
    </section>
  );
}

/** Revoked tokens stay revoked; a token above one's own role is not one's to revoke. */
function revocable(token: ApiToken, role: Role | undefined): Availability {
  if (token.revokedAt) return { enabled: false, reason: "It is already revoked." };
  return needsRole(token.role, role);
}

function TokenRow({ token }: { token: ApiToken }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const mine = signedInToken.value?.startsWith(token.prefix) ?? false;
  const state = TOKEN_STATES[token.revokedAt ? "REVOKED" : "ACTIVE"];

  async function revoke() {
    setBusy(true);
    setError(await revokeToken(token.id));
    setBusy(false);
  }

  return (
    <tr aria-label={token.name}>
      <td data-label="Name">
        <span class="token-name">{token.name}</span>
        {mine && <span class="tag">This tab</span>}
      </td>
      <td data-label="Role">{token.role}</td>
      <td data-label="Prefix">
        <code>{token.prefix}…</code>
      </td>
      <td data-label="Created">{formatMoment(token.createdAt)}</td>
      <td data-label="Last used">{token.lastUsedAt ? formatMoment(token.lastUsedAt) : "Never"}</td>
      <td data-label="State">
        <StatusLabel look={state} />
        {token.revokedAt && <span class="hint"> {formatMoment(token.revokedAt)}</span>}
      </td>
      <td data-label="">
        <ActionButton
          id={`revoke-${token.id}`}
          class="danger-outline"
          availability={revocable(token, viewer.value?.role)}
          busy={busy}
          onPress={() => setAsking(true)}
        >
          Revoke
        </ActionButton>
        {error && (
          <p class="notice notice-danger" role="alert">
            {error}
          </p>
        )}
        {asking && (
          <ConfirmDialog
            title={`Revoke “${token.name}”?`}
            confirm="Revoke token"
            keep="Keep it"
            danger
            onConfirm={() => void revoke()}
            onClose={() => setAsking(false)}
          >
            <p>
              Every request with it is refused from now on; this cannot be undone.
              {mine && " This tab is signed in with it: it will be signed out."}
            </p>
          </ConfirmDialog>
        )}
      </td>
    </tr>
  );
}
