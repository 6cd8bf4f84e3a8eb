from puli_mesh.cli import app

app(prog_name="puli-mesh")
