<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="id_ID" sourcelanguage="en">
<context>
    <name>SettingsDialog</name>
    <message>
        <source>Takes effect when Studio Monitor starts again.</source>
        <translation>Berlaku setelah Studio Monitor dibuka ulang.</translation>
    </message>
    <message>
        <source>Language</source>
        <translation>Bahasa</translation>
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
</TS>
