// The list of keyboard shortcuts and the switch that turns them off, in a native modal dialog.
import { useEffect, useRef } from "preact/hooks";
import { SHORTCUTS, helpOpen, setShortcutsOn, shortcutsOn } from "../services/shortcuts";

export function ShortcutsHelp() {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    dialog.current?.showModal();
  }, []);
  return (
    <dialog ref={dialog} class="confirm shortcuts" aria-labelledby="shortcuts-title" onClose={() => (helpOpen.value = false)}>
      <h2 id="shortcuts-title">Keyboard shortcuts</h2>
      <table class="shortcut-table" aria-labelledby="shortcuts-title">
        <thead>
          <tr>
            <th scope="col">Key</th>
            <th scope="col">Does</th>
          </tr>
        </thead>
        <tbody>
          {SHORTCUTS.map((shortcut) => (
            <tr key={shortcut.key}>
              <td>
                <kbd>{shortcut.shown}</kbd>
              </td>
              <td>{shortcut.does}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <label class="filter-check">
        <input
          type="checkbox"
          checked={shortcutsOn.value}
          onChange={(event) => setShortcutsOn(event.currentTarget.checked)}
        />
        <span>Single-key shortcuts on</span>
      </label>
      <p class="hint">They never act while you type in a field.</p>
      <div class="confirm-buttons">
        <button type="button" onClick={() => dialog.current?.close()} autofocus>
          Close
        </button>
      </div>
    </dialog>
  );
}
