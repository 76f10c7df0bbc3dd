<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="id_ID" sourcelanguage="en">
<context>
    <name>AlertsDock</name>
    <message>
        <source>Acknowledge</source>
        <translation>Tandai dilihat</translation>
    </message>
    <message>
        <source>I have seen this alert</source>
        <translation>Saya sudah melihat peringatan ini</translation>
    </message>
    <message>
        <source>Show cleared</source>
        <translation>Tampilkan yang selesai</translation>
    </message>
    <message>
        <source>Keep cleared alerts in the list</source>
        <translation>Tetap tampilkan peringatan yang sudah selesai</translation>
    </message>
    <message>
        <source>No open alerts.</source>
        <translation>Tidak ada peringatan terbuka.</translation>
    </message>
    <message>
        <source>Acknowledge alert</source>
        <translation>Tandai peringatan dilihat</translation>
    </message>
</context>
<context>
    <name>AlertsModel</name>
    <message>
        <source>This PC</source>
        <translation>PC ini</translation>
    </message>
    <message>
        <source>A camera</source>
        <translation>Sebuah kamera</translation>
    </message>
    <message>
        <source>An event</source>
        <translation>Sebuah acara</translation>
    </message>
    <message>
        <source>Backups</source>
        <translation>Cadangan</translation>
    </message>
    <message>
        <source>Studio</source>
        <translation>Studio</translation>
    </message>
</context>
<context>
    <name>AppController</name>
    <message>
        <source>No token for the hub</source>
        <translation>Belum ada token untuk hub</translation>
    </message>
    <message>
        <source>{reason}. Open File &gt; Settings to store one.</source>
        <translation>{reason}. Buka Berkas &gt; Pengaturan untuk menyimpannya.</translation>
    </message>
    <message>
        <source>Studio Monitor: {hub}</source>
        <translation>Studio Monitor: {hub}</translation>
    </message>
    <message>
        <source>Studio Monitor: this PC</source>
        <translation>Studio Monitor: PC ini</translation>
    </message>
    <message>
        <source>Photo service running in the background</source>
        <translation>Layanan foto berjalan di latar belakang</translation>
    </message>
    <message>
        <source>The hub&apos;s certificate file cannot be used</source>
        <translation>File sertifikat hub tidak bisa dipakai</translation>
    </message>
    <message>
        <source>{reason}. Open File &gt; Settings to fix it.</source>
        <translation>{reason}. Buka Berkas &gt; Pengaturan untuk memperbaikinya.</translation>
    </message>
    <message>
        <source>Photo service starting…</source>
        <translation>Layanan foto sedang dimulai…</translation>
    </message>
    <message>
        <source>Photo service running</source>
        <translation>Layanan foto berjalan</translation>
    </message>
    <message>
        <source>Photo service restarting…</source>
        <translation>Layanan foto sedang dimulai ulang…</translation>
    </message>
    <message>
        <source>Photo service stopped</source>
        <translation>Layanan foto berhenti</translation>
    </message>
    <message>
        <source>The photo service could not start</source>
        <translation>Layanan foto tidak dapat dimulai</translation>
    </message>
    <message>
        <source>The photo service could not start and is being tried again; photos in the hot folder wait and will be filed once it runs.</source>
        <translation>Layanan foto tidak dapat dimulai dan sedang dicoba lagi; foto di hot folder menunggu dan akan diimpor begitu layanan berjalan.</translation>
    </message>
    <message>
        <source>The photo service stopped</source>
        <translation>Layanan foto berhenti</translation>
    </message>
    <message>
        <source>The photo service stopped unexpectedly and is being restarted; photos in the hot folder wait and will be filed.</source>
        <translation>Layanan foto berhenti tiba-tiba dan sedang dimulai ulang; foto di hot folder menunggu dan akan diimpor.</translation>
    </message>
    <message>
        <source>Backups go to this disk only</source>
        <translation>Cadangan hanya ke disk ini</translation>
    </message>
    <message>
        <source>Your photos are copied only to the disk they are already on: if it fails, both copies are lost. Add an external drive, a network share or a cloud remote in Settings &gt; Backups.</source>
        <translation>Foto Anda hanya disalin ke disk tempat foto itu sudah berada: jika disk itu rusak, kedua salinan hilang. Tambahkan drive eksternal, folder jaringan, atau remote cloud di Pengaturan &gt; Cadangan.</translation>
    </message>
    <message>
        <source>No hub yet</source>
        <translation>Belum ada hub</translation>
    </message>
    <message>
        <source>There is no hub to test yet.</source>
        <translation>Belum ada hub untuk diuji.</translation>
    </message>
    <message>
        <source>Save diagnostics</source>
        <translation>Simpan diagnostik</translation>
    </message>
    <message>
        <source>Zip (*.zip)</source>
        <translation>Zip (*.zip)</translation>
    </message>
    <message>
        <source>Diagnostics saved to {path}</source>
        <translation>Diagnostik disimpan ke {path}</translation>
    </message>
    <message>
        <source>photos are arriving from a camera</source>
        <translation>foto sedang masuk dari sebuah kamera</translation>
    </message>
    <message>
        <source>photos are arriving from {count} cameras</source>
        <translation>foto sedang masuk dari {count} kamera</translation>
    </message>
    <message>
        <source>a backup is running</source>
        <translation>sebuah pencadangan sedang berjalan</translation>
    </message>
    <message>
        <source>{count} backups are running</source>
        <translation>{count} pencadangan sedang berjalan</translation>
    </message>
    <message>
        <source>Quit Studio Monitor?</source>
        <translation>Keluar dari Studio Monitor?</translation>
    </message>
    <message>
        <source>Right now {what}. Quitting stops the photo service on this PC: new photos wait in the hot folder and backups stop until Studio Monitor runs again.</source>
        <translation>Saat ini {what}. Keluar akan menghentikan layanan foto di PC ini: foto baru menunggu di hot folder dan pencadangan berhenti sampai Studio Monitor berjalan lagi.</translation>
    </message>
    <message>
        <source> and </source>
        <translation> dan </translation>
    </message>
    <message>
        <source>Keep running in the background</source>
        <translation>Tetap berjalan di latar belakang</translation>
    </message>
    <message>
        <source>Quit and stop</source>
        <translation>Keluar dan hentikan</translation>
    </message>
    <message>
        <source>In the background the photo service keeps filing and backing up, starts again when you log in, and Studio Monitor connects to it when you open it.</source>
        <translation>Di latar belakang, layanan foto tetap mengimpor dan mencadangkan, mulai lagi saat Anda masuk (login), dan Studio Monitor terhubung ke layanan itu saat Anda membukanya.</translation>
    </message>
    <message>
        <source>The photo service could not be set up in the background: {error}</source>
        <translation>Layanan foto tidak dapat disiapkan di latar belakang: {error}</translation>
    </message>
    <message>
        <source>Studio Monitor</source>
        <translation>Studio Monitor</translation>
    </message>
</context>
<context>
    <name>BackupsDock</name>
    <message>
        <source>Cancel</source>
        <translation>Batal</translation>
    </message>
    <message>
        <source>Stop the selected backup job</source>
        <translation>Hentikan pencadangan yang dipilih</translation>
    </message>
    <message>
        <source>Retry</source>
        <translation>Ulangi</translation>
    </message>
    <message>
        <source>Start the failed or cancelled job again</source>
        <translation>Jalankan lagi pencadangan yang gagal atau dibatalkan</translation>
    </message>
    <message>
        <source>Verify</source>
        <translation>Verifikasi</translation>
    </message>
    <message>
        <source>Check the copies of this event against the originals</source>
        <translation>Cocokkan salinan acara ini dengan file aslinya</translation>
    </message>
    <message>
        <source>running now</source>
        <translation>sedang berjalan</translation>
    </message>
    <message>
        <source>failed today</source>
        <translation>gagal hari ini</translation>
    </message>
    <message>
        <source>completed today</source>
        <translation>selesai hari ini</translation>
    </message>
    <message>
        <source>photos backed up today</source>
        <translation>foto dicadangkan hari ini</translation>
    </message>
    <message>
        <source>success rate today</source>
        <translation>tingkat berhasil hari ini</translation>
    </message>
    <message>
        <source>No backup job yet. Start one from the Events dock.</source>
        <translation>Belum ada pencadangan. Mulai dari panel Acara.</translation>
    </message>
    <message>
        <source>Cancel backup</source>
        <translation>Batalkan cadangan</translation>
    </message>
    <message>
        <source>Retry backup</source>
        <translation>Ulangi cadangan</translation>
    </message>
    <message>
        <source>Verify backup</source>
        <translation>Verifikasi cadangan</translation>
    </message>
</context>
<context>
    <name>BackupsModel</name>
    <message>
        <source>{copied} copied, {skipped} already there</source>
        <translation>{copied} disalin, {skipped} sudah ada</translation>
    </message>
    <message>
        <source>{copied} copied</source>
        <translation>{copied} disalin</translation>
    </message>
    <message>
        <source>{copied} copied, {skipped} already there (skipped), {failed} failed, of {total}</source>
        <translation>{copied} disalin, {skipped} sudah ada (dilewati), {failed} gagal, dari {total}</translation>
    </message>
    <message>
        <source>{state}, retry at {time}</source>
        <translation>{state}, dicoba lagi pukul {time}</translation>
    </message>
    <message>
        <source>Started {started}, finished {finished}</source>
        <translation>Mulai {started}, selesai {finished}</translation>
    </message>
    <message>
        <source>Waiting: {why}; tried again at {time}</source>
        <translation>Menunggu: {why}; dicoba lagi pukul {time}</translation>
    </message>
    <message>
        <source>Started by hand</source>
        <translation>Dimulai secara manual</translation>
    </message>
    <message>
        <source>Started by new photos of a live event</source>
        <translation>Dimulai oleh foto baru dari acara yang berlangsung</translation>
    </message>
    <message>
        <source>Started by the overnight upload</source>
        <translation>Dimulai oleh unggahan malam hari</translation>
    </message>
</context>
<context>
    <name>BackupsSettings</name>
    <message>
        <source>A photo is safe once it is verified on two separate devices. Add an external drive, a network share or a cloud remote: the hub keeps this list.</source>
        <translation>Foto aman setelah terverifikasi di dua perangkat terpisah. Tambahkan drive eksternal, folder jaringan, atau remote cloud: hub menyimpan daftar ini.</translation>
    </message>
    <message>
        <source>No destination yet.</source>
        <translation>Belum ada tujuan.</translation>
    </message>
    <message>
        <source>Add…</source>
        <translation>Tambah…</translation>
    </message>
    <message>
        <source>Change…</source>
        <translation>Ubah…</translation>
    </message>
    <message>
        <source>Remove</source>
        <translation>Hapus</translation>
    </message>
    <message>
        <source>Backup destinations</source>
        <translation>Tujuan cadangan</translation>
    </message>
    <message>
        <source>Browse…</source>
        <translation>Telusuri…</translation>
    </message>
    <message>
        <source>One folder a line</source>
        <translation>Satu folder per baris</translation>
    </message>
    <message>
        <source>Apply to the hub</source>
        <translation>Terapkan ke hub</translation>
    </message>
    <message>
        <source>Photo folders of the hub</source>
        <translation>Folder foto hub</translation>
    </message>
    <message>
        <source>Event library</source>
        <translation>Pustaka acara</translation>
    </message>
    <message>
        <source>Hot folders</source>
        <translation>Hot folder</translation>
    </message>
    <message>
        <source>The hub has not said yet</source>
        <translation>Hub belum memberi tahu</translation>
    </message>
    <message>
        <source>Backups go only to this disk, where the photos already are: if it fails, both copies are lost. Add an external drive, a network share or a cloud remote.</source>
        <translation>Cadangan hanya ke disk ini, tempat foto sudah berada: jika disk itu rusak, kedua salinan hilang. Tambahkan drive eksternal, folder jaringan, atau remote cloud.</translation>
    </message>
    <message>
        <source>Remove destination</source>
        <translation>Hapus tujuan</translation>
    </message>
    <message>
        <source>Remove “{label}”? Events stop backing up there. Copies already made stay where they are.</source>
        <translation>Hapus “{label}”? Acara berhenti dicadangkan ke sana. Salinan yang sudah dibuat tetap di tempatnya.</translation>
    </message>
    <message>
        <source>Folder of the event library</source>
        <translation>Folder pustaka acara</translation>
    </message>
    <message>
        <source>Photo folders</source>
        <translation>Folder foto</translation>
    </message>
    <message>
        <source>The hub uses these folders now.</source>
        <translation>Hub kini memakai folder ini.</translation>
    </message>
</context>
<context>
    <name>Banner</name>
    <message>
        <source>Open</source>
        <translation>Buka</translation>
    </message>
    <message>
        <source>Dismiss</source>
        <translation>Tutup</translation>
    </message>
    <message>
        <source>+{count} more</source>
        <translation>+{count} lagi</translation>
    </message>
</context>
<context>
    <name>CameraSetupDialog</name>
    <message>
        <source>Hot folder and event</source>
        <translation>Hot folder dan acara</translation>
    </message>
    <message>
        <source>Hot folder</source>
        <translation>Hot folder</translation>
    </message>
    <message>
        <source>Hot folder of the tethering software</source>
        <translation>Hot folder dari software tethering</translation>
    </message>
    <message>
        <source>Event</source>
        <translation>Acara</translation>
    </message>
    <message>
        <source>No event yet: create one in the Events dock first.</source>
        <translation>Belum ada acara: buat dulu di panel Acara.</translation>
    </message>
    <message>
        <source>Choose the hot folder.</source>
        <translation>Pilih hot folder.</translation>
    </message>
    <message>
        <source>Choose the event the photos belong to.</source>
        <translation>Pilih acara untuk foto-foto ini.</translation>
    </message>
</context>
<context>
    <name>CamerasDock</name>
    <message>
        <source>Pause ingest</source>
        <translation>Jeda impor</translation>
    </message>
    <message>
        <source>Stop filing new photos from the hot folder</source>
        <translation>Berhenti mengimpor foto baru dari hot folder</translation>
    </message>
    <message>
        <source>Resume ingest</source>
        <translation>Lanjutkan impor</translation>
    </message>
    <message>
        <source>File the photos waiting in the hot folder</source>
        <translation>Impor foto yang menunggu di hot folder</translation>
    </message>
    <message>
        <source>Hot folder and event…</source>
        <translation>Hot folder dan acara…</translation>
    </message>
    <message>
        <source>Where the photos arrive and which event they belong to</source>
        <translation>Tempat foto masuk dan acara pemiliknya</translation>
    </message>
    <message>
        <source>No camera yet. Photos dropped into a hot folder show their camera here.</source>
        <translation>Belum ada kamera. Foto yang masuk ke hot folder akan menampilkan kameranya di sini.</translation>
    </message>
    <message>
        <source>Set hot folder and event</source>
        <translation>Atur hot folder dan acara</translation>
    </message>
</context>
<context>
    <name>CamerasModel</name>
    <message>
        <source>Model: {model}
Serial: {serial}
Source: {source}
Hot folder: {folder}</source>
        <translation>Model: {model}
Nomor seri: {serial}
Sumber: {source}
Hot folder: {folder}</translation>
    </message>
    <message>
        <source>paused</source>
        <translation>dijeda</translation>
    </message>
    <message>
        <source>Ingest is paused: new photos wait in the hot folder until you resume it.</source>
        <translation>Impor dijeda: foto baru menunggu di hot folder sampai Anda melanjutkannya.</translation>
    </message>
    <message>
        <source>{count} in total</source>
        <translation>total {count}</translation>
    </message>
    <message>
        <source>{count} files imported</source>
        <translation>{count} file diimpor</translation>
    </message>
</context>
<context>
    <name>CommandCenter</name>
    <message>
        <source>{what}: not sent</source>
        <translation>{what}: tidak terkirim</translation>
    </message>
    <message>
        <source>The app is not connected to a hub yet.</source>
        <translation>Aplikasi belum terhubung ke hub.</translation>
    </message>
    <message>
        <source>{what}: sent</source>
        <translation>{what}: terkirim</translation>
    </message>
    <message>
        <source>{what} failed</source>
        <translation>{what} gagal</translation>
    </message>
    <message>
        <source>{what}: failed: {reason}</source>
        <translation>{what}: gagal: {reason}</translation>
    </message>
    <message>
        <source>{what}: started</source>
        <translation>{what}: dimulai</translation>
    </message>
    <message>
        <source>the backup job failed</source>
        <translation>pekerjaan pencadangan gagal</translation>
    </message>
    <message>
        <source>{what}: cancelled</source>
        <translation>{what}: dibatalkan</translation>
    </message>
    <message>
        <source>{what}: done</source>
        <translation>{what}: selesai</translation>
    </message>
    <message>
        <source>{what}: queued until the hub is reachable</source>
        <translation>{what}: menunggu sampai hub bisa dihubungi</translation>
    </message>
</context>
<context>
    <name>ConnectionIndicator</name>
    <message>
        <source>Not connected</source>
        <translation>Tidak terhubung</translation>
    </message>
</context>
<context>
    <name>ConnectionPanel</name>
    <message>
        <source>Connecting</source>
        <translation>Menghubungkan</translation>
    </message>
    <message>
        <source>Live (WebSocket)</source>
        <translation>Live (WebSocket)</translation>
    </message>
    <message>
        <source>Long-poll</source>
        <translation>Long-poll</translation>
    </message>
    <message>
        <source>Polling</source>
        <translation>Polling</translation>
    </message>
    <message>
        <source>Offline</source>
        <translation>Offline</translation>
    </message>
    <message>
        <source>Connection</source>
        <translation>Koneksi</translation>
    </message>
    <message>
        <source>Transport</source>
        <translation>Transport</translation>
    </message>
    <message>
        <source>Epoch</source>
        <translation>Epoch</translation>
    </message>
    <message>
        <source>Round trip</source>
        <translation>Waktu bolak-balik</translation>
    </message>
    <message>
        <source>Next retry</source>
        <translation>Coba lagi berikutnya</translation>
    </message>
    <message>
        <source>Poll interval</source>
        <translation>Interval polling</translation>
    </message>
    <message>
        <source>Scaling</source>
        <translation>Penyesuaian</translation>
    </message>
    <message>
        <source>Last error</source>
        <translation>Galat terakhir</translation>
    </message>
    <message>
        <source>Reconnects</source>
        <translation>Sambung ulang</translation>
    </message>
    <message>
        <source>Fallbacks</source>
        <translation>Beralih cadangan</translation>
    </message>
    <message>
        <source>Gaps repaired</source>
        <translation>Celah diperbaiki</translation>
    </message>
    <message>
        <source>Messages</source>
        <translation>Pesan</translation>
    </message>
    <message>
        <source>Received</source>
        <translation>Diterima</translation>
    </message>
    <message>
        <source>States this session</source>
        <translation>Keadaan sesi ini</translation>
    </message>
    <message>
        <source>Round trip, last 10 minutes</source>
        <translation>Waktu bolak-balik, 10 menit terakhir</translation>
    </message>
    <message>
        <source>Now</source>
        <translation>Sekarang</translation>
    </message>
    <message>
        <source>Counters</source>
        <translation>Penghitung</translation>
    </message>
    <message>
        <source>Availability</source>
        <translation>Ketersediaan</translation>
    </message>
    <message>
        <source>none</source>
        <translation>belum ada</translation>
    </message>
    <message>
        <source>in {duration}</source>
        <translation>dalam {duration}</translation>
    </message>
    <message>
        <source>none: base rates</source>
        <translation>tidak ada: kecepatan dasar</translation>
    </message>
    <message>
        <source>Data age: {ages}</source>
        <translation>Umur data: {ages}</translation>
    </message>
    <message>
        <source>{percent} of the session with data flowing</source>
        <translation>{percent} dari sesi dengan data mengalir</translation>
    </message>
</context>
<context>
    <name>ConnectionTestDialog</name>
    <message>
        <source>health</source>
        <translation>kesehatan hub</translation>
    </message>
    <message>
        <source>latency</source>
        <translation>latensi</translation>
    </message>
    <message>
        <source>TLS certificate</source>
        <translation>sertifikat TLS</translation>
    </message>
    <message>
        <source>token</source>
        <translation>token</translation>
    </message>
    <message>
        <source>WebSocket</source>
        <translation>WebSocket</translation>
    </message>
    <message>
        <source>snapshot</source>
        <translation>snapshot</translation>
    </message>
    <message>
        <source>long-poll</source>
        <translation>long-poll</translation>
    </message>
    <message>
        <source>Test connection</source>
        <translation>Uji koneksi</translation>
    </message>
    <message>
        <source>waiting</source>
        <translation>menunggu</translation>
    </message>
    <message>
        <source>running…</source>
        <translation>berjalan…</translation>
    </message>
    <message>
        <source>Checking {url}</source>
        <translation>Memeriksa {url}</translation>
    </message>
    <message>
        <source>Check</source>
        <translation>Pemeriksaan</translation>
    </message>
    <message>
        <source>Result</source>
        <translation>Hasil</translation>
    </message>
    <message>
        <source>Time</source>
        <translation>Waktu</translation>
    </message>
    <message>
        <source>Detail</source>
        <translation>Rincian</translation>
    </message>
    <message>
        <source>Run again</source>
        <translation>Jalankan lagi</translation>
    </message>
    <message>
        <source>skipped</source>
        <translation>dilewati</translation>
    </message>
    <message>
        <source>pass</source>
        <translation>lulus</translation>
    </message>
    <message>
        <source>FAIL</source>
        <translation>GAGAL</translation>
    </message>
    <message>
        <source>The test stopped: {error}</source>
        <translation>Pengujian berhenti: {error}</translation>
    </message>
    <message>
        <source>Every check passed: this PC can use the hub over every transport.</source>
        <translation>Semua pemeriksaan lulus: PC ini bisa memakai hub lewat semua transport.</translation>
    </message>
    <message>
        <source>{count} check(s) did not pass: {names}. See the details above.</source>
        <translation>{count} pemeriksaan tidak lulus: {names}. Lihat rinciannya di atas.</translation>
    </message>
    <message>
        <source>not run</source>
        <translation>tidak dijalankan</translation>
    </message>
</context>
<context>
    <name>DestinationForm</name>
    <message>
        <source>On {volume}: {free} free of {total}</source>
        <translation>Di {volume}: {free} kosong dari {total}</translation>
    </message>
    <message>
        <source>Add a backup destination</source>
        <translation>Tambah tujuan cadangan</translation>
    </message>
    <message>
        <source>Change backup destination</source>
        <translation>Ubah tujuan cadangan</translation>
    </message>
    <message>
        <source>Backup USB</source>
        <translation>USB cadangan</translation>
    </message>
    <message>
        <source>/media/studio/Backup USB/Studio Monitor</source>
        <translation>/media/studio/USB cadangan/Studio Monitor</translation>
    </message>
    <message>
        <source>Browse…</source>
        <translation>Telusuri…</translation>
    </message>
    <message>
        <source>Folder</source>
        <translation>Folder</translation>
    </message>
    <message>
        <source>A folder on an external drive or a second disk. The drive is recognised by a small marker file, so a backup never fills an empty folder when it is unplugged.</source>
        <translation>Folder di drive eksternal atau disk kedua. Drive dikenali dari file penanda kecil, jadi cadangan tidak pernah mengisi folder kosong saat drive dicabut.</translation>
    </message>
    <message>
        <source>/mnt/nas/photos or \\nas\photos</source>
        <translation>/mnt/nas/foto atau \\nas\foto</translation>
    </message>
    <message>
        <source>Share path</source>
        <translation>Path folder jaringan</translation>
    </message>
    <message>
        <source>The share as the hub&apos;s computer mounts it (SMB or NFS), or a UNC path on Windows. Connect it there first.</source>
        <translation>Folder jaringan seperti yang dipasang komputer hub (SMB atau NFS), atau path UNC di Windows. Sambungkan di sana dulu.</translation>
    </message>
    <message>
        <source>Use an existing rclone remote</source>
        <translation>Pakai remote rclone yang sudah ada</translation>
    </message>
    <message>
        <source>Set up a remote here</source>
        <translation>Atur remote di sini</translation>
    </message>
    <message>
        <source>gdrive:Studio Backups</source>
        <translation>gdrive:Cadangan Studio</translation>
    </message>
    <message>
        <source>A remote set up with “rclone config” on the hub&apos;s computer (Google Drive, OneDrive, Dropbox, B2… with their own sign-in), then a colon and a folder.</source>
        <translation>Remote yang diatur dengan “rclone config” di komputer hub (Google Drive, OneDrive, Dropbox, B2… dengan login masing-masing), lalu titik dua dan sebuah folder.</translation>
    </message>
    <message>
        <source>WebDAV (Nextcloud, ownCloud…)</source>
        <translation>WebDAV (Nextcloud, ownCloud…)</translation>
    </message>
    <message>
        <source>SFTP (SSH server)</source>
        <translation>SFTP (server SSH)</translation>
    </message>
    <message>
        <source>S3 or S3-compatible (Backblaze B2, Wasabi, MinIO…)</source>
        <translation>S3 atau yang kompatibel S3 (Backblaze B2, Wasabi, MinIO…)</translation>
    </message>
    <message>
        <source>Studio Backups</source>
        <translation>Cadangan Studio</translation>
    </message>
    <message>
        <source>Remote</source>
        <translation>Remote</translation>
    </message>
    <message>
        <source>Type</source>
        <translation>Tipe</translation>
    </message>
    <message>
        <source>Folder there</source>
        <translation>Folder di sana</translation>
    </message>
    <message>
        <source>When new photos of a live event go there: as they are filed, overnight (from 22:00), or only when you start a backup.</source>
        <translation>Kapan foto baru dari acara yang berlangsung dikirim ke sana: saat diimpor, malam hari (mulai 22.00), atau hanya saat Anda memulai cadangan.</translation>
    </message>
    <message>
        <source>In the default set (events without their own choice)</source>
        <translation>Dalam set bawaan (acara tanpa pilihan sendiri)</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>Nama</translation>
    </message>
    <message>
        <source>Kind</source>
        <translation>Jenis</translation>
    </message>
    <message>
        <source>New photos go there</source>
        <translation>Foto baru dikirim</translation>
    </message>
    <message>
        <source>URL</source>
        <translation>URL</translation>
    </message>
    <message>
        <source>Server</source>
        <translation>Server</translation>
    </message>
    <message>
        <source>User</source>
        <translation>Pengguna</translation>
    </message>
    <message>
        <source>Password</source>
        <translation>Kata sandi</translation>
    </message>
    <message>
        <source>Host</source>
        <translation>Host</translation>
    </message>
    <message>
        <source>Port</source>
        <translation>Port</translation>
    </message>
    <message>
        <source>Key file</source>
        <translation>File kunci</translation>
    </message>
    <message>
        <source>Provider</source>
        <translation>Penyedia</translation>
    </message>
    <message>
        <source>Endpoint</source>
        <translation>Endpoint</translation>
    </message>
    <message>
        <source>Region</source>
        <translation>Region</translation>
    </message>
    <message>
        <source>Access key ID</source>
        <translation>ID kunci akses</translation>
    </message>
    <message>
        <source>Secret key</source>
        <translation>Kunci rahasia</translation>
    </message>
    <message>
        <source>unchanged</source>
        <translation>tidak diubah</translation>
    </message>
    <message>
        <source>This is the same disk as the photos: a copy there does not make them safe.</source>
        <translation>Ini disk yang sama dengan foto: salinan di sana tidak membuat foto aman.</translation>
    </message>
    <message>
        <source>Backup folder on a drive</source>
        <translation>Folder cadangan di drive</translation>
    </message>
    <message>
        <source>Give the destination a name.</source>
        <translation>Beri nama tujuan.</translation>
    </message>
    <message>
        <source>Choose the folder on the drive.</source>
        <translation>Pilih folder di drive.</translation>
    </message>
    <message>
        <source>Type the share&apos;s path.</source>
        <translation>Ketik path folder jaringan.</translation>
    </message>
    <message>
        <source>Type the remote as name:folder, e.g. gdrive:Studio Backups.</source>
        <translation>Ketik remote sebagai nama:folder, mis. gdrive:Cadangan Studio.</translation>
    </message>
    <message>
        <source>Fill in the {field}.</source>
        <translation>Isi {field}.</translation>
    </message>
    <message>
        <source>Type the password or secret key again: the hub replaces the remote&apos;s settings as a whole, and it never sends its secrets back.</source>
        <translation>Ketik lagi kata sandi atau kunci rahasia: hub mengganti pengaturan remote secara utuh, dan tidak pernah mengirim balik rahasianya.</translation>
    </message>
    <message>
        <source>Add destination</source>
        <translation>Tambah tujuan</translation>
    </message>
    <message>
        <source>Change destination</source>
        <translation>Ubah tujuan</translation>
    </message>
    <message>
        <source>Asking the hub…</source>
        <translation>Menanyakan hub…</translation>
    </message>
    <message>
        <source>Waiting for the hub (not reachable now)…</source>
        <translation>Menunggu hub (belum terjangkau)…</translation>
    </message>
</context>
<context>
    <name>DestinationsModel</name>
    <message>
        <source>Drive folder</source>
        <translation>Folder di drive</translation>
    </message>
    <message>
        <source>Network share</source>
        <translation>Folder jaringan</translation>
    </message>
    <message>
        <source>Cloud (rclone)</source>
        <translation>Cloud (rclone)</translation>
    </message>
    <message>
        <source>As photos arrive</source>
        <translation>Saat foto masuk</translation>
    </message>
    <message>
        <source>Overnight</source>
        <translation>Malam hari</translation>
    </message>
    <message>
        <source>Only when asked</source>
        <translation>Hanya jika diminta</translation>
    </message>
    <message>
        <source>{state}, retry at {time}</source>
        <translation>{state}, dicoba lagi pukul {time}</translation>
    </message>
    <message>
        <source>On the same disk as the photos: copies there do not make photos safe.</source>
        <translation>Di disk yang sama dengan foto: salinan di sana tidak membuat foto aman.</translation>
    </message>
    <message>
        <source>Checked {time}</source>
        <translation>Diperiksa {time}</translation>
    </message>
    <message>
        <source>{kind}; new photos: {upload}</source>
        <translation>{kind}; foto baru: {upload}</translation>
    </message>
    <message>
        <source>{free} of {total}</source>
        <translation>{free} dari {total}</translation>
    </message>
    <message>
        <source>yes</source>
        <translation>ya</translation>
    </message>
    <message>
        <source>not connected</source>
        <translation>terputus</translation>
    </message>
    <message>
        <source> (same disk)</source>
        <translation> (disk yang sama)</translation>
    </message>
</context>
<context>
    <name>EventDestinations</name>
    <message>
        <source>The studio&apos;s default set ({names})</source>
        <translation>Set bawaan studio ({names})</translation>
    </message>
    <message>
        <source>The studio&apos;s default set</source>
        <translation>Set bawaan studio</translation>
    </message>
    <message>
        <source>Only these:</source>
        <translation>Hanya ini:</translation>
    </message>
    <message>
        <source>No destination yet: add one in Settings &gt; Backups.</source>
        <translation>Belum ada tujuan: tambahkan di Pengaturan &gt; Cadangan.</translation>
    </message>
</context>
<context>
    <name>EventsDock</name>
    <message>
        <source>New event…</source>
        <translation>Acara baru…</translation>
    </message>
    <message>
        <source>Create an event to file photos into</source>
        <translation>Buat acara untuk menampung foto</translation>
    </message>
    <message>
        <source>Change…</source>
        <translation>Ubah…</translation>
    </message>
    <message>
        <source>Change the selected event: name, date, folder, backup destinations</source>
        <translation>Ubah acara yang dipilih: nama, tanggal, folder, tujuan cadangan</translation>
    </message>
    <message>
        <source>Start backup</source>
        <translation>Mulai cadangan</translation>
    </message>
    <message>
        <source>Back up the selected event to every destination (the arrow: to one)</source>
        <translation>Cadangkan acara yang dipilih ke semua tujuan (panah: ke satu tujuan)</translation>
    </message>
    <message>
        <source>Verify</source>
        <translation>Verifikasi</translation>
    </message>
    <message>
        <source>Check the selected event&apos;s copies against the originals</source>
        <translation>Cocokkan salinan acara yang dipilih dengan file aslinya</translation>
    </message>
    <message>
        <source>Archive</source>
        <translation>Arsipkan</translation>
    </message>
    <message>
        <source>Mark the selected event as archived</source>
        <translation>Tandai acara yang dipilih sebagai arsip</translation>
    </message>
    <message>
        <source>Verify event</source>
        <translation>Verifikasi acara</translation>
    </message>
    <message>
        <source>No event yet. Create one with New event…</source>
        <translation>Belum ada acara. Buat dengan Acara baru…</translation>
    </message>
    <message>
        <source>Every destination of the event</source>
        <translation>Semua tujuan acara ini</translation>
    </message>
    <message>
        <source>Create event</source>
        <translation>Buat acara</translation>
    </message>
    <message>
        <source>Change event</source>
        <translation>Ubah acara</translation>
    </message>
    <message>
        <source>Archive event</source>
        <translation>Arsipkan acara</translation>
    </message>
    <message>
        <source>Archive “{name}”? Its photos stay where they are; the event stops taking new ones.</source>
        <translation>Arsipkan “{name}”? Fotonya tetap di tempatnya; acara ini tidak menerima foto baru lagi.</translation>
    </message>
</context>
<context>
    <name>EventsModel</name>
    <message>
        <source>, {count} verified</source>
        <translation>, {count} terverifikasi</translation>
    </message>
    <message>
        <source>, same disk</source>
        <translation>, disk yang sama</translation>
    </message>
    <message>
        <source>, not connected</source>
        <translation>, tidak terhubung</translation>
    </message>
    <message>
        <source>, waiting until {time}</source>
        <translation>, menunggu sampai {time}</translation>
    </message>
    <message>
        <source>p95 {p95}</source>
        <translation>p95 {p95}</translation>
    </message>
    <message>
        <source>Time from a photo complete in the hot folder to verified on a second device:
last {last}, median {p50}, 95% within {p95} ({count} photos)</source>
        <translation>Waktu dari foto lengkap di hot folder sampai terverifikasi di perangkat kedua:
terakhir {last}, median {p50}, 95% dalam {p95} ({count} foto)</translation>
    </message>
    <message>
        <source>No photos</source>
        <translation>Belum ada foto</translation>
    </message>
    <message>
        <source>{safe} of {photos} safe</source>
        <translation>{safe} dari {photos} aman</translation>
    </message>
    <message>
        <source>oldest {age}</source>
        <translation>terlama {age}</translation>
    </message>
    <message>
        <source>{minutes} min</source>
        <translation>{minutes} mnt</translation>
    </message>
    <message>
        <source>A photo is safe once it is verified on two separate drives.</source>
        <translation>Foto aman setelah terverifikasi di dua drive terpisah.</translation>
    </message>
    <message>
        <source>{safe} of {photos} photos are safe.</source>
        <translation>{safe} dari {photos} foto sudah aman.</translation>
    </message>
    <message>
        <source>The oldest unsafe photo arrived {when} ({ago}).</source>
        <translation>Foto belum aman yang paling lama masuk {when} ({ago}).</translation>
    </message>
    <message>
        <source>The hub has not checked the backups of these photos yet.</source>
        <translation>Hub belum memeriksa cadangan foto-foto ini.</translation>
    </message>
    <message>
        <source>Copied to this disk only: back them up to another drive.</source>
        <translation>Baru disalin ke disk ini saja: cadangkan ke drive lain.</translation>
    </message>
    <message>
        <source>{label} is not connected.</source>
        <translation>{label} tidak terhubung.</translation>
    </message>
    <message>
        <source>{count} photos changed after they were backed up.</source>
        <translation>{count} foto berubah setelah dicadangkan.</translation>
    </message>
    <message>
        <source>Overall: {state}, last completed {time}</source>
        <translation>Keseluruhan: {state}, terakhir selesai {time}</translation>
    </message>
    <message>
        <source>{label}: {state}, last completed {time}</source>
        <translation>{label}: {state}, terakhir selesai {time}</translation>
    </message>
    <message>
        <source>, {count} photos verified there</source>
        <translation>, {count} foto terverifikasi di sana</translation>
    </message>
    <message>
        <source> (on the photos&apos; own disk: not a second copy)</source>
        <translation> (di disk yang sama dengan foto: bukan salinan kedua)</translation>
    </message>
    <message>
        <source> (not connected)</source>
        <translation> (tidak terhubung)</translation>
    </message>
    <message>
        <source>; tried again at {time}</source>
        <translation>; dicoba lagi pukul {time}</translation>
    </message>
</context>
<context>
    <name>FollowedCommand</name>
    <message>
        <source>The app is not connected to a hub yet.</source>
        <translation>Aplikasi belum terhubung ke hub.</translation>
    </message>
</context>
<context>
    <name>HostCard</name>
    <message>
        <source>CPU</source>
        <translation>CPU</translation>
    </message>
    <message>
        <source>Memory</source>
        <translation>Memori</translation>
    </message>
    <message>
        <source>Network</source>
        <translation>Jaringan</translation>
    </message>
    <message>
        <source>Disks</source>
        <translation>Disk</translation>
    </message>
    <message>
        <source>Battery</source>
        <translation>Baterai</translation>
    </message>
    <message>
        <source>{host}: invalid record</source>
        <translation>{host}: data tidak valid</translation>
    </message>
    <message>
        <source>{os}, {count} cores</source>
        <translation>{os}, {count} core</translation>
    </message>
    <message>
        <source>sampled {time}</source>
        <translation>diukur {time}</translation>
    </message>
    <message>
        <source>{used} of {total}</source>
        <translation>{used} dari {total}</translation>
    </message>
    <message>
        <source>System</source>
        <translation>Sistem</translation>
    </message>
    <message>
        <source>Photos</source>
        <translation>Foto</translation>
    </message>
    <message>
        <source>Backups</source>
        <translation>Cadangan</translation>
    </message>
    <message>
        <source>Hub data</source>
        <translation>Data hub</translation>
    </message>
    <message>
        <source>{free} free</source>
        <translation>{free} kosong</translation>
    </message>
    <message>
        <source>{free} free of {total} on {mount}</source>
        <translation>{free} kosong dari {total} di {mount}</translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <source>Studio Monitor</source>
        <translation>Studio Monitor</translation>
    </message>
    <message>
        <source>Notifications</source>
        <translation>Notifikasi</translation>
    </message>
    <message>
        <source>&amp;File</source>
        <translation>&amp;Berkas</translation>
    </message>
    <message>
        <source>Settings…</source>
        <translation>Pengaturan…</translation>
    </message>
    <message>
        <source>Test connection…</source>
        <translation>Uji koneksi…</translation>
    </message>
    <message>
        <source>Save diagnostics…</source>
        <translation>Simpan diagnostik…</translation>
    </message>
    <message>
        <source>Quit</source>
        <translation>Keluar</translation>
    </message>
    <message>
        <source>&amp;View</source>
        <translation>&amp;Tampilan</translation>
    </message>
    <message>
        <source>Connection panel…</source>
        <translation>Panel koneksi…</translation>
    </message>
    <message>
        <source>Reset layout</source>
        <translation>Atur ulang tata letak</translation>
    </message>
    <message>
        <source>Next panel</source>
        <translation>Panel berikutnya</translation>
    </message>
    <message>
        <source>Previous panel</source>
        <translation>Panel sebelumnya</translation>
    </message>
    <message>
        <source>&amp;Connection</source>
        <translation>&amp;Koneksi</translation>
    </message>
    <message>
        <source>Reconnect now</source>
        <translation>Hubungkan ulang sekarang</translation>
    </message>
    <message>
        <source>&amp;Help</source>
        <translation>Ban&amp;tuan</translation>
    </message>
    <message>
        <source>About Studio Monitor</source>
        <translation>Tentang Studio Monitor</translation>
    </message>
    <message>
        <source>&lt;b&gt;Studio Monitor&lt;/b&gt; {version}&lt;br&gt;Backups, cameras, systems and events, live from the studio hub.</source>
        <translation>&lt;b&gt;Studio Monitor&lt;/b&gt; {version}&lt;br&gt;Cadangan, kamera, sistem, dan acara, langsung dari hub studio.</translation>
    </message>
    <message>
        <source>Studio Monitor is still running</source>
        <translation>Studio Monitor masih berjalan</translation>
    </message>
    <message>
        <source>It keeps watching your photos and backups from the tray. To stop it, choose Quit in the tray menu or File &gt; Quit.</source>
        <translation>Aplikasi tetap memantau foto dan cadangan Anda dari tray. Untuk menghentikannya, pilih Keluar di menu tray atau File &gt; Keluar.</translation>
    </message>
</context>
<context>
    <name>NewEventDialog</name>
    <message>
        <source>New event</source>
        <translation>Acara baru</translation>
    </message>
    <message>
        <source>Change event</source>
        <translation>Ubah acara</translation>
    </message>
    <message>
        <source>Smith wedding</source>
        <translation>Pernikahan Sari &amp; Budi</translation>
    </message>
    <message>
        <source>Optional</source>
        <translation>Opsional</translation>
    </message>
    <message>
        <source>Leave it empty and the hub makes a folder for the event in the library.</source>
        <translation>Biarkan kosong dan hub akan membuat folder untuk acara ini di pustaka.</translation>
    </message>
    <message>
        <source>Name</source>
        <translation>Nama</translation>
    </message>
    <message>
        <source>Date</source>
        <translation>Tanggal</translation>
    </message>
    <message>
        <source>Folder</source>
        <translation>Folder</translation>
    </message>
    <message>
        <source>Folder of the event&apos;s photos</source>
        <translation>Folder foto acara</translation>
    </message>
    <message>
        <source>Back up to</source>
        <translation>Cadangkan ke</translation>
    </message>
    <message>
        <source>Give the event a name.</source>
        <translation>Beri nama acaranya.</translation>
    </message>
    <message>
        <source>Choose at least one destination, or the default set.</source>
        <translation>Pilih minimal satu tujuan, atau set bawaan.</translation>
    </message>
</context>
<context>
    <name>NotificationBridge</name>
    <message>
        <source>Connection degraded</source>
        <translation>Koneksi melambat</translation>
    </message>
    <message>
        <source>Hub offline</source>
        <translation>Hub offline</translation>
    </message>
    <message>
        <source>Back live</source>
        <translation>Live kembali</translation>
    </message>
    <message>
        <source>Info alert</source>
        <translation>Peringatan info</translation>
    </message>
    <message>
        <source>Warning alert</source>
        <translation>Peringatan</translation>
    </message>
    <message>
        <source>Critical alert</source>
        <translation>Peringatan kritis</translation>
    </message>
    <message>
        <source>The live connection is not available: updates continue over HTTP, a little slower.</source>
        <translation>Koneksi live tidak tersedia: pembaruan tetap jalan lewat HTTP, sedikit lebih lambat.</translation>
    </message>
    <message>
        <source>Cannot reach the hub. Retrying automatically.</source>
        <translation>Hub tidak bisa dihubungi. Mencoba lagi otomatis.</translation>
    </message>
    <message>
        <source>Live again: updates arrive over WebSocket.</source>
        <translation>Live lagi: pembaruan masuk lewat WebSocket.</translation>
    </message>
</context>
<context>
    <name>QDockWidget</name>
    <message>
        <source>Float</source>
        <translation>Lepas</translation>
    </message>
    <message>
        <source>Close</source>
        <translation>Tutup</translation>
    </message>
</context>
<context>
    <name>QGnomeTheme</name>
    <message>
        <source>&amp;OK</source>
        <translation>&amp;OK</translation>
    </message>
    <message>
        <source>&amp;Save</source>
        <translation>&amp;Simpan</translation>
    </message>
    <message>
        <source>&amp;Cancel</source>
        <translation>&amp;Batal</translation>
    </message>
    <message>
        <source>&amp;Close</source>
        <translation>&amp;Tutup</translation>
    </message>
    <message>
        <source>Close without Saving</source>
        <translation>Tutup tanpa menyimpan</translation>
    </message>
</context>
<context>
    <name>QLineEdit</name>
    <message>
        <source>&amp;Undo</source>
        <translation>&amp;Urungkan</translation>
    </message>
    <message>
        <source>&amp;Redo</source>
        <translation>&amp;Ulangi</translation>
    </message>
    <message>
        <source>Cu&amp;t</source>
        <translation>Po&amp;tong</translation>
    </message>
    <message>
        <source>&amp;Copy</source>
        <translation>&amp;Salin</translation>
    </message>
    <message>
        <source>&amp;Paste</source>
        <translation>&amp;Tempel</translation>
    </message>
    <message>
        <source>Delete</source>
        <translation>Hapus</translation>
    </message>
    <message>
        <source>Select All</source>
        <translation>Pilih semua</translation>
    </message>
</context>
<context>
    <name>QPlatformTheme</name>
    <message>
        <source>OK</source>
        <translation>OK</translation>
    </message>
    <message>
        <source>Save</source>
        <translation>Simpan</translation>
    </message>
    <message>
        <source>Open</source>
        <translation>Buka</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>Batal</translation>
    </message>
    <message>
        <source>Close</source>
        <translation>Tutup</translation>
    </message>
    <message>
        <source>Apply</source>
        <translation>Terapkan</translation>
    </message>
    <message>
        <source>Reset</source>
        <translation>Atur ulang</translation>
    </message>
    <message>
        <source>Help</source>
        <translation>Bantuan</translation>
    </message>
    <message>
        <source>Discard</source>
        <translation>Buang</translation>
    </message>
    <message>
        <source>&amp;Yes</source>
        <translation>&amp;Ya</translation>
    </message>
    <message>
        <source>&amp;No</source>
        <translation>&amp;Tidak</translation>
    </message>
    <message>
        <source>Retry</source>
        <translation>Coba lagi</translation>
    </message>
    <message>
        <source>Abort</source>
        <translation>Batalkan</translation>
    </message>
    <message>
        <source>Ignore</source>
        <translation>Abaikan</translation>
    </message>
</context>
<context>
    <name>RecordTableModel</name>
    <message>
        <source>invalid record</source>
        <translation>data tidak valid</translation>
    </message>
    <message>
        <source>The hub sent a record this app cannot read: {error}</source>
        <translation>Hub mengirim data yang tidak bisa dibaca aplikasi ini: {error}</translation>
    </message>
</context>
<context>
    <name>SettingsDialog</name>
    <message>
        <source>Settings</source>
        <translation>Pengaturan</translation>
    </message>
    <message>
        <source>Embedded hub on this PC (watches this PC only)</source>
        <translation>Hub bawaan di PC ini (hanya memantau PC ini)</translation>
    </message>
    <message>
        <source>Studio hub at:</source>
        <translation>Hub studio di:</translation>
    </message>
    <message>
        <source>optional: PEM certificate of a self-signed hub</source>
        <translation>opsional: sertifikat PEM untuk hub dengan sertifikat sendiri</translation>
    </message>
    <message>
        <source>Browse…</source>
        <translation>Telusuri…</translation>
    </message>
    <message>
        <source>Test connection…</source>
        <translation>Uji koneksi…</translation>
    </message>
    <message>
        <source>Hub</source>
        <translation>Hub</translation>
    </message>
    <message>
        <source>Profile</source>
        <translation>Profil</translation>
    </message>
    <message>
        <source>Certificate</source>
        <translation>Sertifikat</translation>
    </message>
    <message>
        <source>Token</source>
        <translation>Token</translation>
    </message>
    <message>
        <source>Connection: falling back, offline, live again</source>
        <translation>Koneksi: beralih cadangan, offline, live lagi</translation>
    </message>
    <message>
        <source>New alerts</source>
        <translation>Peringatan baru</translation>
    </message>
    <message>
        <source>{severity} and above</source>
        <translation>{severity} ke atas</translation>
    </message>
    <message>
        <source>Notifications</source>
        <translation>Notifikasi</translation>
    </message>
    <message>
        <source>Alerts from</source>
        <translation>Peringatan mulai</translation>
    </message>
    <message>
        <source>Start Studio Monitor when I log in</source>
        <translation>Jalankan Studio Monitor saat saya masuk</translation>
    </message>
    <message>
        <source> x</source>
        <translation> x</translation>
    </message>
    <message>
        <source>Polling speed: 2x polls twice as often (more network and battery), 0.5x half as often. Health checks keep their pace. No effect while live on WebSocket.</source>
        <translation>Kecepatan polling: 2x berarti polling dua kali lebih sering (lebih banyak jaringan dan baterai), 0.5x setengahnya. Cek kesehatan tetap pada lajunya. Tidak berpengaruh saat live lewat WebSocket.</translation>
    </message>
    <message>
        <source>Takes effect when Studio Monitor starts again.</source>
        <translation>Berlaku setelah Studio Monitor dibuka ulang.</translation>
    </message>
    <message>
        <source>App</source>
        <translation>Aplikasi</translation>
    </message>
    <message>
        <source>Update speed</source>
        <translation>Kecepatan pembaruan</translation>
    </message>
    <message>
        <source>Language</source>
        <translation>Bahasa</translation>
    </message>
    <message>
        <source>General</source>
        <translation>Umum</translation>
    </message>
    <message>
        <source>Backups</source>
        <translation>Cadangan</translation>
    </message>
    <message>
        <source>The embedded hub uses a one-time token of its own.</source>
        <translation>Hub bawaan memakai token sekali pakai miliknya sendiri.</translation>
    </message>
    <message>
        <source>A token for this hub is kept in {place}. Leave empty to keep it.</source>
        <translation>Token untuk hub ini tersimpan di {place}. Biarkan kosong untuk tetap memakainya.</translation>
    </message>
    <message>
        <source>No token stored yet ({place}).</source>
        <translation>Belum ada token tersimpan ({place}).</translation>
    </message>
    <message>
        <source>Hub certificate</source>
        <translation>Sertifikat hub</translation>
    </message>
    <message>
        <source>PEM (*.pem *.crt);;All files (*)</source>
        <translation>PEM (*.pem *.crt);;Semua file (*)</translation>
    </message>
    <message>
        <source>Type the hub&apos;s address, or choose the embedded hub.</source>
        <translation>Ketik alamat hub, atau pilih hub bawaan.</translation>
    </message>
    <message>
        <source>The certificate file {path} does not exist.</source>
        <translation>File sertifikat {path} tidak ada.</translation>
    </message>
    <message>
        <source>Type the hub&apos;s address first.</source>
        <translation>Ketik dulu alamat hub.</translation>
    </message>
    <message>
        <source>The embedded hub is not running yet.</source>
        <translation>Hub bawaan belum berjalan.</translation>
    </message>
</context>
<context>
    <name>Sparkline</name>
    <message>
        <source>no data yet</source>
        <translation>belum ada data</translation>
    </message>
</context>
<context>
    <name>StatusBarController</name>
    <message>
        <source>Reconnect</source>
        <translation>Hubungkan ulang</translation>
    </message>
    <message>
        <source>Drop the wait and try the WebSocket again now</source>
        <translation>Jangan menunggu, coba WebSocket lagi sekarang</translation>
    </message>
    <message>
        <source>RTT {rtt}</source>
        <translation>RTT {rtt}</translation>
    </message>
    <message>
        <source>Data {age} old (stale)</source>
        <translation>Data {age} lalu (usang)</translation>
    </message>
    <message>
        <source>Data age n/a</source>
        <translation>Umur data t/a</translation>
    </message>
    <message>
        <source>Data current</source>
        <translation>Data terkini</translation>
    </message>
    <message>
        <source>Data {age} old</source>
        <translation>Data {age} lalu</translation>
    </message>
    <message>
        <source>Hub {host}</source>
        <translation>Hub {host}</translation>
    </message>
    <message>
        <source>Hub: {url}</source>
        <translation>Hub: {url}</translation>
    </message>
    <message>
        <source>none</source>
        <translation>tidak ada</translation>
    </message>
    <message>
        <source>Transport: {transport}</source>
        <translation>Transport: {transport}</translation>
    </message>
    <message>
        <source>Last error: {error}</source>
        <translation>Galat terakhir: {error}</translation>
    </message>
    <message>
        <source>Click for the connection panel</source>
        <translation>Klik untuk panel koneksi</translation>
    </message>
</context>
<context>
    <name>SystemDock</name>
    <message>
        <source>1 client</source>
        <translation>1 klien</translation>
    </message>
    <message>
        <source>{count} clients</source>
        <translation>{count} klien</translation>
    </message>
    <message>
        <source>hub: {memory} memory, {cpu} CPU, {clients}</source>
        <translation>hub: memori {memory}, CPU {cpu}, {clients}</translation>
    </message>
    <message>
        <source>No host has reported yet.</source>
        <translation>Belum ada komputer yang melapor.</translation>
    </message>
</context>
<context>
    <name>SystemModel</name>
    <message>
        <source>{percent} of {total}</source>
        <translation>{percent} dari {total}</translation>
    </message>
    <message>
        <source>{mount}: {free} free</source>
        <translation>{mount}: {free} kosong</translation>
    </message>
    <message>
        <source>{percent}, plugged in</source>
        <translation>{percent}, dicas</translation>
    </message>
    <message>
        <source>{percent}, {duration} left</source>
        <translation>{percent}, sisa {duration}</translation>
    </message>
</context>
<context>
    <name>Timeline</name>
    <message>
        <source>now</source>
        <translation>sekarang</translation>
    </message>
</context>
<context>
    <name>TrayController</name>
    <message>
        <source>Studio Monitor</source>
        <translation>Studio Monitor</translation>
    </message>
    <message>
        <source>Hide window</source>
        <translation>Sembunyikan jendela</translation>
    </message>
    <message>
        <source>Reconnect now</source>
        <translation>Hubungkan ulang sekarang</translation>
    </message>
    <message>
        <source>Pause alerts for 1 hour</source>
        <translation>Jeda peringatan 1 jam</translation>
    </message>
    <message>
        <source>Quit Studio Monitor</source>
        <translation>Keluar dari Studio Monitor</translation>
    </message>
    <message>
        <source>Show window</source>
        <translation>Tampilkan jendela</translation>
    </message>
    <message>
        <source>1 open alert</source>
        <translation>1 peringatan aktif</translation>
    </message>
    <message>
        <source>{count} open alerts</source>
        <translation>{count} peringatan aktif</translation>
    </message>
    <message>
        <source>Studio Monitor: {state}, {alerts}</source>
        <translation>Studio Monitor: {state}, {alerts}</translation>
    </message>
    <message>
        <source>(alerts paused until {time})</source>
        <translation>(peringatan dijeda sampai {time})</translation>
    </message>
    <message>
        <source>Alerts paused until {time}</source>
        <translation>Peringatan dijeda sampai {time}</translation>
    </message>
</context>
<context>
    <name>_Form</name>
    <message>
        <source>Browse…</source>
        <translation>Telusuri…</translation>
    </message>
</context>
<context>
    <name>alerts</name>
    <message>
        <source>{host}: disk {mount} has {free} free ({percent})</source>
        <translation>{host}: disk {mount} tinggal {free} kosong ({percent})</translation>
    </message>
    <message>
        <source>{host}: CPU at {percent} for over {minutes} min</source>
        <translation>{host}: CPU {percent} selama lebih dari {minutes} mnt</translation>
    </message>
    <message>
        <source>{host}: battery at {percent} and not plugged in</source>
        <translation>{host}: baterai {percent} dan tidak dicas</translation>
    </message>
    <message>
        <source>the live event</source>
        <translation>acara yang sedang berlangsung</translation>
    </message>
    <message>
        <source>{camera} has sent no photo yet during {event}</source>
        <translation>{camera} belum mengirim foto selama {event}</translation>
    </message>
    <message>
        <source>{camera} has sent no photo for {minutes} min during {event}</source>
        <translation>{camera} tidak mengirim foto selama {minutes} mnt di {event}</translation>
    </message>
    <message>
        <source>{camera}: {folder} is gone during {event}</source>
        <translation>{camera}: {folder} hilang saat {event}</translation>
    </message>
    <message>
        <source>its hot folder</source>
        <translation>hot folder-nya</translation>
    </message>
    <message>
        <source>1 file from {camera} could not be imported</source>
        <translation>1 file dari {camera} gagal diimpor</translation>
    </message>
    <message>
        <source>{count} files from {camera} could not be imported</source>
        <translation>{count} file dari {camera} gagal diimpor</translation>
    </message>
    <message>
        <source>Backup of {event} to {destination} failed</source>
        <translation>Cadangan {event} ke {destination} gagal</translation>
    </message>
    <message>
        <source>Verify of {event} on {destination} found {count} damaged or missing files</source>
        <translation>Verifikasi {event} di {destination} menemukan {count} file rusak atau hilang</translation>
    </message>
    <message>
        <source>Event {event}: new photos are not backed up</source>
        <translation>Acara {event}: foto baru belum dicadangkan</translation>
    </message>
    <message>
        <source>Event {event}: new photos are not backed up; last complete backup {minutes} min ago</source>
        <translation>Acara {event}: foto baru belum dicadangkan; cadangan lengkap terakhir {minutes} mnt lalu</translation>
    </message>
    <message>
        <source>the hub has not checked their backups yet</source>
        <translation>hub belum memeriksa cadangannya</translation>
    </message>
    <message>
        <source>copied to this disk only</source>
        <translation>baru disalin ke disk ini saja</translation>
    </message>
    <message>
        <source>no backup drive separate from the photos&apos; own disk</source>
        <translation>tidak ada drive cadangan yang terpisah dari disk foto</translation>
    </message>
    <message>
        <source>Event {event}: 1 photo is not safe yet, for {minutes} min</source>
        <translation>Acara {event}: 1 foto belum aman, sudah {minutes} mnt</translation>
    </message>
    <message>
        <source>Event {event}: {count} photos are not safe yet, the oldest for {minutes} min</source>
        <translation>Acara {event}: {count} foto belum aman, yang terlama sudah {minutes} mnt</translation>
    </message>
    <message>
        <source>{destination} is not connected</source>
        <translation>{destination} tidak terhubung</translation>
    </message>
    <message>
        <source>the backup drive</source>
        <translation>drive cadangan</translation>
    </message>
    <message>
        <source>Event {event}: 1 photo changed after it was backed up</source>
        <translation>Acara {event}: 1 foto berubah setelah dicadangkan</translation>
    </message>
    <message>
        <source>Event {event}: {count} photos changed after they were backed up</source>
        <translation>Acara {event}: {count} foto berubah setelah dicadangkan</translation>
    </message>
</context>
<context>
    <name>columns</name>
    <message>
        <source>Severity</source>
        <translation>Tingkat</translation>
    </message>
    <message>
        <source>Message</source>
        <translation>Pesan</translation>
    </message>
    <message>
        <source>Source</source>
        <translation>Sumber</translation>
    </message>
    <message>
        <source>Raised</source>
        <translation>Muncul</translation>
    </message>
    <message>
        <source>Cleared</source>
        <translation>Selesai</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>Status</translation>
    </message>
    <message>
        <source>Event</source>
        <translation>Acara</translation>
    </message>
    <message>
        <source>Destination</source>
        <translation>Tujuan</translation>
    </message>
    <message>
        <source>Kind</source>
        <translation>Jenis</translation>
    </message>
    <message>
        <source>State</source>
        <translation>Keadaan</translation>
    </message>
    <message>
        <source>Progress</source>
        <translation>Progres</translation>
    </message>
    <message>
        <source>Files</source>
        <translation>File</translation>
    </message>
    <message>
        <source>Bytes</source>
        <translation>Ukuran</translation>
    </message>
    <message>
        <source>Speed</source>
        <translation>Kecepatan</translation>
    </message>
    <message>
        <source>ETA</source>
        <translation>Sisa waktu</translation>
    </message>
    <message>
        <source>Verified</source>
        <translation>Terverifikasi</translation>
    </message>
    <message>
        <source>Mismatches</source>
        <translation>Tidak cocok</translation>
    </message>
    <message>
        <source>Error</source>
        <translation>Galat</translation>
    </message>
    <message>
        <source>Camera</source>
        <translation>Kamera</translation>
    </message>
    <message>
        <source>Shots</source>
        <translation>Jepretan</translation>
    </message>
    <message>
        <source>Per min</source>
        <translation>Per mnt</translation>
    </message>
    <message>
        <source>Last shot</source>
        <translation>Terakhir</translation>
    </message>
    <message>
        <source>Queue</source>
        <translation>Antrean</translation>
    </message>
    <message>
        <source>Ingest</source>
        <translation>Impor</translation>
    </message>
    <message>
        <source>Failed</source>
        <translation>Gagal</translation>
    </message>
    <message>
        <source>Battery</source>
        <translation>Baterai</translation>
    </message>
    <message>
        <source>Date</source>
        <translation>Tanggal</translation>
    </message>
    <message>
        <source>Photos</source>
        <translation>Foto</translation>
    </message>
    <message>
        <source>Safe</source>
        <translation>Aman</translation>
    </message>
    <message>
        <source>Size</source>
        <translation>Ukuran</translation>
    </message>
    <message>
        <source>Last photo</source>
        <translation>Foto terakhir</translation>
    </message>
    <message>
        <source>Backup</source>
        <translation>Cadangan</translation>
    </message>
    <message>
        <source>Time to safe</source>
        <translation>Waktu ke aman</translation>
    </message>
    <message>
        <source>Folder</source>
        <translation>Folder</translation>
    </message>
    <message>
        <source>Host</source>
        <translation>Komputer</translation>
    </message>
    <message>
        <source>OS</source>
        <translation>OS</translation>
    </message>
    <message>
        <source>CPU</source>
        <translation>CPU</translation>
    </message>
    <message>
        <source>Memory</source>
        <translation>Memori</translation>
    </message>
    <message>
        <source>Fullest disk</source>
        <translation>Disk terpenuh</translation>
    </message>
    <message>
        <source>Network</source>
        <translation>Jaringan</translation>
    </message>
    <message>
        <source>Sampled</source>
        <translation>Diukur</translation>
    </message>
    <message>
        <source>Where</source>
        <translation>Lokasi</translation>
    </message>
    <message>
        <source>Volume</source>
        <translation>Volume</translation>
    </message>
    <message>
        <source>Free</source>
        <translation>Kosong</translation>
    </message>
    <message>
        <source>Connected</source>
        <translation>Tersambung</translation>
    </message>
    <message>
        <source>Upload</source>
        <translation>Unggah</translation>
    </message>
    <message>
        <source>Default set</source>
        <translation>Set bawaan</translation>
    </message>
</context>
<context>
    <name>connection</name>
    <message>
        <source>Connecting…</source>
        <translation>Menghubungkan…</translation>
    </message>
    <message>
        <source>Live</source>
        <translation>Live</translation>
    </message>
    <message>
        <source>Long-poll</source>
        <translation>Long-poll</translation>
    </message>
    <message>
        <source>Polling</source>
        <translation>Polling</translation>
    </message>
    <message>
        <source>Offline</source>
        <translation>Offline</translation>
    </message>
    <message>
        <source>Not connected</source>
        <translation>Tidak terhubung</translation>
    </message>
    <message>
        <source>Polling every {interval}</source>
        <translation>Polling tiap {interval}</translation>
    </message>
    <message>
        <source>Offline, retrying now</source>
        <translation>Offline, mencoba lagi sekarang</translation>
    </message>
    <message>
        <source>Offline, retrying in {seconds} s</source>
        <translation>Offline, mencoba lagi dalam {seconds} dtk</translation>
    </message>
</context>
<context>
    <name>docks</name>
    <message>
        <source>Alerts</source>
        <translation>Peringatan</translation>
    </message>
    <message>
        <source>Backups</source>
        <translation>Cadangan</translation>
    </message>
    <message>
        <source>Cameras</source>
        <translation>Kamera</translation>
    </message>
    <message>
        <source>Events</source>
        <translation>Acara</translation>
    </message>
    <message>
        <source>System</source>
        <translation>Sistem</translation>
    </message>
</context>
<context>
    <name>errors</name>
    <message>
        <source>the hub does not know it (it may have been removed)</source>
        <translation>hub tidak mengenalinya (mungkin sudah dihapus)</translation>
    </message>
    <message>
        <source>this token may not do that (ask for an operator token)</source>
        <translation>token ini tidak boleh melakukannya (minta token operator)</translation>
    </message>
    <message>
        <source>the hub refused the token</source>
        <translation>hub menolak token</translation>
    </message>
    <message>
        <source>the hub did not answer in time</source>
        <translation>hub tidak menjawab tepat waktu</translation>
    </message>
    <message>
        <source>the hub is not ready yet; try again in a moment</source>
        <translation>hub belum siap; coba lagi sebentar lagi</translation>
    </message>
    <message>
        <source>the hub is shutting down</source>
        <translation>hub sedang dimatikan</translation>
    </message>
    <message>
        <source>the hub refused it</source>
        <translation>hub menolaknya</translation>
    </message>
</context>
<context>
    <name>format</name>
    <message>
        <source>n/a</source>
        <translation>t/a</translation>
    </message>
    <message>
        <source>{s} s</source>
        <translation>{s} dtk</translation>
    </message>
    <message>
        <source>{m} min {s} s</source>
        <translation>{m} mnt {s} dtk</translation>
    </message>
    <message>
        <source>{h} h {m} min</source>
        <translation>{h} j {m} mnt</translation>
    </message>
    <message>
        <source>{d} d {h} h</source>
        <translation>{d} hr {h} j</translation>
    </message>
    <message>
        <source>just now</source>
        <translation>baru saja</translation>
    </message>
    <message>
        <source>{duration} ago</source>
        <translation>{duration} lalu</translation>
    </message>
    <message>
        <source>HH:mm:ss</source>
        <translation>HH.mm.ss</translation>
    </message>
    <message>
        <source>d MMM HH:mm</source>
        <translation>d MMM HH.mm</translation>
    </message>
    <message>
        <source>d MMM yyyy HH:mm</source>
        <translation>d MMM yyyy HH.mm</translation>
    </message>
    <message>
        <source>d MMM yyyy</source>
        <translation>d MMM yyyy</translation>
    </message>
    <message>
        <source>done</source>
        <translation>selesai</translation>
    </message>
    <message>
        <source>{ms} ms</source>
        <translation>{ms} md</translation>
    </message>
</context>
<context>
    <name>i18n</name>
    <message>
        <source>System language</source>
        <translation>Bahasa sistem</translation>
    </message>
</context>
<context>
    <name>words</name>
    <message>
        <source>shooting</source>
        <translation>memotret</translation>
    </message>
    <message>
        <source>idle</source>
        <translation>siaga</translation>
    </message>
    <message>
        <source>silent</source>
        <translation>diam</translation>
    </message>
    <message>
        <source>offline</source>
        <translation>offline</translation>
    </message>
    <message>
        <source>paused</source>
        <translation>dijeda</translation>
    </message>
    <message>
        <source>queued</source>
        <translation>mengantre</translation>
    </message>
    <message>
        <source>running</source>
        <translation>berjalan</translation>
    </message>
    <message>
        <source>verifying</source>
        <translation>memverifikasi</translation>
    </message>
    <message>
        <source>completed</source>
        <translation>selesai</translation>
    </message>
    <message>
        <source>failed</source>
        <translation>gagal</translation>
    </message>
    <message>
        <source>cancelled</source>
        <translation>dibatalkan</translation>
    </message>
    <message>
        <source>waiting</source>
        <translation>menunggu</translation>
    </message>
    <message>
        <source>copy</source>
        <translation>salin</translation>
    </message>
    <message>
        <source>verify</source>
        <translation>verifikasi</translation>
    </message>
    <message>
        <source>upcoming</source>
        <translation>akan datang</translation>
    </message>
    <message>
        <source>live</source>
        <translation>berlangsung</translation>
    </message>
    <message>
        <source>done</source>
        <translation>selesai</translation>
    </message>
    <message>
        <source>archived</source>
        <translation>diarsipkan</translation>
    </message>
    <message>
        <source>unfiled</source>
        <translation>tanpa acara</translation>
    </message>
    <message>
        <source>none</source>
        <translation>belum ada</translation>
    </message>
    <message>
        <source>partial</source>
        <translation>sebagian</translation>
    </message>
    <message>
        <source>current</source>
        <translation>terkini</translation>
    </message>
    <message>
        <source>stale</source>
        <translation>tertinggal</translation>
    </message>
    <message>
        <source>info</source>
        <translation>info</translation>
    </message>
    <message>
        <source>warning</source>
        <translation>waspada</translation>
    </message>
    <message>
        <source>critical</source>
        <translation>kritis</translation>
    </message>
    <message>
        <source>open</source>
        <translation>aktif</translation>
    </message>
    <message>
        <source>acknowledged</source>
        <translation>sudah dilihat</translation>
    </message>
    <message>
        <source>cleared</source>
        <translation>selesai</translation>
    </message>
    <message>
        <source>safe</source>
        <translation>aman</translation>
    </message>
    <message>
        <source>unsafe</source>
        <translation>belum aman</translation>
    </message>
    <message>
        <source>unchecked</source>
        <translation>belum diperiksa</translation>
    </message>
    <message>
        <source>ready</source>
        <translation>siap</translation>
    </message>
    <message>
        <source>missing</source>
        <translation>tidak ada</translation>
    </message>
    <message>
        <source>error</source>
        <translation>galat</translation>
    </message>
    <message>
        <source>hot folder</source>
        <translation>hot folder</translation>
    </message>
    <message>
        <source>USB tether (gPhoto2)</source>
        <translation>tether USB (gPhoto2)</translation>
    </message>
    <message>
        <source>long-poll</source>
        <translation>long-poll</translation>
    </message>
    <message>
        <source>polling</source>
        <translation>polling</translation>
    </message>
    <message>
        <source>connecting</source>
        <translation>menghubungkan</translation>
    </message>
    <message>
        <source>Unfiled photos</source>
        <translation>Foto tanpa acara</translation>
    </message>
    <message>
        <source>This disk: Pictures/Studio Monitor/Backups (not a separate drive)</source>
        <translation>Disk ini: Pictures/Studio Monitor/Backups (bukan drive terpisah)</translation>
    </message>
</context>
</TS>
