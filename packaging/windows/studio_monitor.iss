; Inno Setup script for Studio Monitor on Windows 10 (1809) and later, 64-bit.
;
; Build (on Windows, after packaging\build.sh or the PyInstaller command in packaging\README.md
; has produced dist\StudioMonitor\):
;     "C:\Program Files (x86)\Inno Setup 6\ISCC.exe" packaging\windows\studio_monitor.iss
; Output: dist\StudioMonitor-<version>-setup.exe
;
; The version is read from StudioMonitor.exe, whose version resource PyInstaller wrote from
; studio_monitor.__version__: nothing here names a version.
;
; What it does: installs the bundle (per user without admin rights, or for all users when
; run as administrator), a Start menu entry, an optional desktop icon, and an optional
; "start at login" (the HKCU Run value "Studio Monitor", the same value the app's Settings
; switch writes, so either can turn it off). Uninstalling removes the program, the shortcuts
; and the Run value, and keeps the user's settings, logs and hub data unless the user says
; so (or /PURGEUSERDATA=yes is given to a silent uninstall). Photos are never touched.
;
; This script cannot be compiled on the Linux build machine; it was written against the
; Inno Setup 6 documentation and must be compiled and tried on Windows before a release.

#define AppName "Studio Monitor"
#define AppExe "StudioMonitor.exe"
#define CliExe "studio-monitor.exe"
; Paths relative to this script's folder (SourcePath), wherever ISCC is started from.
#define RepoDir AddBackslash(SourcePath) + "..\.."
#define SourceDir RepoDir + "\dist\StudioMonitor"
#define IconFile RepoDir + "\build\generated\icons\studio-monitor.ico"
#if !FileExists(SourceDir + "\" + AppExe)
  #error dist\StudioMonitor\StudioMonitor.exe not found: build the bundle first (packaging\README.md)
#endif
#define AppVersion GetStringFileInfo(SourceDir + "\" + AppExe, "ProductVersion")
#define AppVersionNumbers GetVersionNumbersString(SourceDir + "\" + AppExe)
; platformdirs folders of the app on Windows (appname "studio-monitor", no author):
; config, data, state and logs all live under %LOCALAPPDATA%\studio-monitor.
#define UserDataDir "{localappdata}\studio-monitor"

[Setup]
; The AppId identifies the product for upgrades and uninstall: never change it.
AppId={{6A0F3C52-8B1E-4C1D-9E3A-5B7D2F4C8A61}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Studio Monitor team
VersionInfoVersion={#AppVersionNumbers}
VersionInfoProductVersion={#AppVersionNumbers}
VersionInfoDescription={#AppName} setup
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; Per-user install by default (no admin needed on a studio PC); an administrator can choose
; "all users" in the dialog, or pass /ALLUSERS.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog commandline
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0.17763
OutputDir={#RepoDir}\dist
OutputBaseFilename=StudioMonitor-{#AppVersion}-setup
SetupIconFile={#IconFile}
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
; The app (and its embedded hub, the same exe) may be running, hidden in the tray: close it
; through the Restart Manager before files are replaced, and start it again afterwards.
CloseApplications=yes
RestartApplications=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "startatlogin"; Description: "Start {#AppName} when I log in"; GroupDescription: "Start-up:"; Flags: unchecked
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

; An upgrade replaces the whole bundle: files of the previous version that this one no longer
; ships must not linger in _internal (a stale DLL there could be loaded).
[InstallDelete]
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; Comment: "Backups, cameras, systems and events, live"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Registry]
; Start at login when the task is chosen: the same value name and command as the app's
; Settings switch (studio_monitor.platform.autostart.WindowsRunKey).
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: string; ValueName: "{#AppName}"; ValueData: """{app}\{#AppExe}"""; Flags: uninsdeletevalue; Tasks: startatlogin
; Whatever the task, uninstalling removes the value (the app's switch may have written it).
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: none; ValueName: "{#AppName}"; Flags: uninsdeletevalue

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallRun]
; Stop a running copy and its embedded hub (the same exe) before their files go. Closing the
; window would only hide it to the tray, hence /F; the hub's store survives a kill.
Filename: "{sys}\taskkill.exe"; Parameters: "/F /T /IM {#AppExe}"; Flags: runhidden; RunOnceId: "StopApp"

[Code]
function PurgeRequested(): Boolean;
begin
  Result := CompareText(ExpandConstant('{param:PURGEUSERDATA|no}'), 'yes') = 0;
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  DataDir: String;
begin
  if CurUninstallStep <> usPostUninstall then
    exit;
  DataDir := ExpandConstant('{#UserDataDir}');
  if not DirExists(DataDir) then
    exit;
  { Keep settings, logs and the embedded hub's data unless asked: a reinstall or an upgrade
    then finds the studio's set-up as it was. Photos live elsewhere and are never removed. }
  if PurgeRequested() or
     ((not UninstallSilent()) and
      (MsgBox('Also delete your Studio Monitor settings, logs and this PC''s hub data?' + #13#10 + #13#10 +
              DataDir + #13#10 + #13#10 +
              'Photos, events and backups are not affected either way.',
              mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES)) then
  begin
    if not DelTree(DataDir, True, True, True) then
      MsgBox('Some files in ' + DataDir + ' could not be deleted; remove the folder by hand.',
             mbInformation, MB_OK);
  end;
end;
