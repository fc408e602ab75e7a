// A modal question before an action that cannot be taken back: the native <dialog>, so focus,
// Escape and the backdrop behave as the browser makes them.
import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";

type Props = {
  title: string;
  confirm: string;
  keep: string;
  danger?: boolean;
  children: ComponentChildren;
  onConfirm: () => void;
  onClose: () => void;
};

export function ConfirmDialog({ title, confirm, keep, danger, children, onConfirm, onClose }: Props) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    dialog.current?.showModal();
  }, []);
  return (
    <dialog ref={dialog} class="confirm" aria-labelledby="confirm-title" onClose={onClose}>
      <h2 id="confirm-title">{title}</h2>
      <div class="confirm-body">{children}</div>
      <div class="confirm-buttons">
        <button type="button" onClick={() => dialog.current?.close()} autofocus>
          {keep}
        </button>
        <button
          type="button"
          class={danger ? "danger" : "primary"}
          onClick={() => {
            onConfirm();
            dialog.current?.close();
          }}
        >
          {confirm}
        </button>
      </div>
    </dialog>
  );
}
