// The polite live region: present from the start, so screen readers speak what changes in it.
import { announcement } from "../stores/announcements";

export function LiveAnnouncer() {
  return (
    <div class="visually-hidden" role="status" aria-live="polite" aria-label="Announcements">
      {announcement.value}
    </div>
  );
}
